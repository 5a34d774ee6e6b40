// What herald reads from an AMQP message: the basic properties as the broker
// sends them (decoded by rabbitmq-c), copied into Properties/Headers, the
// bookkeeping and dead-letter headers read from them, the properties written
// back for a retry, and the body decoded as an envelope. Nothing may crash,
// and only DecodeError may come out of decoding the body.

#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "amqp.hpp"
#include "fuzz_check.hpp"
#include "herald/codec.hpp"
#include "herald/dead_letter.hpp"
#include "herald/errors.hpp"
#include "message.hpp"

using namespace herald;
using namespace herald::rabbitmq;

namespace {

struct Pool {
  amqp_pool_t pool;
  Pool() { init_amqp_pool(&pool, 4096); }
  ~Pool() { empty_amqp_pool(&pool); }
};

void read_like_a_consumer(const Properties& p) {
  const Headers& h = p.headers;
  (void)h.text(header::partitionkey);
  (void)read_delivery_state(h);
  try {
    DeadLetter d = read_dead_letter(h);
    (void)d;
  } catch (const DecodeError&) {
    // a foreign time in a dead-letter header: refused by name
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::string encoded = in.ConsumeRandomLengthString(2048);
  std::string body = in.ConsumeRemainingBytesAsString();

  Pool pool;
  void* decoded = nullptr;
  if (amqp_decode_properties(AMQP_BASIC_CLASS, &pool.pool, bytes_of(encoded), &decoded) != 0 || !decoded) return 0;
  const auto& basic = *static_cast<const amqp_basic_properties_t*>(decoded);

  Properties p = Properties::from(basic);
  read_like_a_consumer(p);

  // A retry copy: bookkeeping replaced, the rest kept, written for rabbitmq-c.
  Properties retry = p;
  DeliveryState state;
  state.attempts = 3;
  state.last_error = "handler failed";
  write_delivery_state(retry.headers, state);
  retry.headers.set_flag("x-herald-fuzz", true);
  read_like_a_consumer(retry);
  amqp_basic_properties_t out;
  retry.fill(out);
  std::string buffer(encoded.size() + 4096, '\0');
  int written = amqp_encode_properties(AMQP_BASIC_CLASS, &out, bytes_of(buffer));
  FUZZ_CHECK(written >= 0, "the retry copy's properties cannot be encoded");

  // And back: what the next consumer reads.
  Pool again;
  void* redecoded = nullptr;
  FUZZ_CHECK(amqp_decode_properties(AMQP_BASIC_CLASS, &again.pool,
                                    amqp_bytes_t{static_cast<std::size_t>(written), buffer.data()}, &redecoded) == 0,
             "the retry copy's properties do not decode");
  Properties next = Properties::from(*static_cast<const amqp_basic_properties_t*>(redecoded));
  FUZZ_CHECK(read_delivery_state(next.headers).attempts == 3, "attempts lost");
  FUZZ_CHECK(next.message_id == p.message_id, "message id lost");

  try {
    Envelope e = decode(body);
    (void)e.payload();
  } catch (const DecodeError&) {
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());
  }
  return 0;
}
