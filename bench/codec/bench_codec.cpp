// Envelope codec: herald encode/decode against nlohmann DOM dump/parse of the
// same JSON. The codec sits on every broker message's path; goal >= 2x each way.
//   bench_codec [iterations]

#include <cstdio>
#include <cstdlib>

#include "herald/codec.hpp"
#include "stats.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

Envelope typical() {
  Envelope e = Envelope::make("order.created",
                              {{"order_id", "ord-2026-000042"}, {"customer", "c-7781"}, {"total", 129.95},
                               {"currency", "EUR"}, {"items", {"sku-1", "sku-2"}}},
                              "orders-service");
  e.partitionkey = "ord-2026-000042";
  e.aggregatetype = "order";
  e.aggregateid = "ord-2026-000042";
  e.dataversion = 2;
  return e;
}

template <class F>
double best_rate(int iterations, F&& f) {
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    auto start = SteadyClock::now();
    for (int i = 0; i < iterations; ++i) f();
    best = std::max(best, iterations / seconds_since(start));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  bench_name() = "codec";
  int n = argc > 1 ? std::atoi(argv[1]) : 300'000;
  Envelope e = typical();
  const std::string text = encode(e);
  const nlohmann::json dom = nlohmann::json::parse(text);
  std::printf("envelope codec: %zu-byte event, %zu attributes, %d iterations, best of 3\n", text.size(), dom.size(), n);

  std::size_t sink = 0;
  std::string out;
  double herald_encode = best_rate(n, [&] {
    out.clear();
    encode_to(e, out);
    sink += out.size();
  });
  double dom_dump = best_rate(n, [&] { sink += dom.dump().size(); });
  double herald_decode = best_rate(n, [&] { sink += decode(text).id.size(); });
  // What a Kafka lane does: each record into the envelope the last one used.
  Envelope reused;
  double herald_decode_into = best_rate(n, [&] {
    decode_into(text, {}, reused);
    sink += reused.id.size();
  });
  double dom_parse = best_rate(n, [&] { sink += nlohmann::json::parse(text).size(); });

  print_ratio("encode (vs nlohmann dump)", herald_encode, dom_dump, 2.0, "nlohmann::json dump", "envelopes/s");
  print_ratio("decode (vs nlohmann parse)", herald_decode, dom_parse, 2.0, "nlohmann::json parse", "envelopes/s");
  print_ratio("decode into a reused envelope (vs parse)", herald_decode_into, dom_parse, 2.0, "nlohmann::json parse",
              "envelopes/s");
  std::printf("  (checksum %zu)\n", sink);
  return 0;
}
