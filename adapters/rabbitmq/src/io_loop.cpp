#include "io_loop.hpp"

#include "herald/ext/keyed_executor.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "herald/log.hpp"

namespace herald::rabbitmq {

namespace {

constexpr std::chrono::milliseconds idle_poll{200};  // also bounds heartbeat sending
constexpr int frames_per_turn = 512;                 // then tasks and acks get their turn

}  // namespace

IoLoop::IoLoop(std::string role, const Settings& settings, LoopClient& client)
    : role_(std::move(role)), settings_(settings), client_(client) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw TransportError("rabbitmq: eventfd failed: " + std::string(std::strerror(errno)));
}

IoLoop::~IoLoop() {
  stop();
  ::close(wake_fd_);
}

void IoLoop::start() {
  thread_ = std::thread([this] { run(); });
  std::unique_lock lock(start_mutex_);
  start_cv_.wait(lock, [&] { return first_done_; });
  if (first_error_) {
    lock.unlock();
    thread_.join();
    std::rethrow_exception(first_error_);
  }
}

void IoLoop::post(Task task) {
  {
    std::lock_guard lock(tasks_mutex_);
    if (!stopped_) {
      tasks_.push_back(std::move(task));
      has_tasks_.store(true, std::memory_order_release);
      task = nullptr;
    }
  }
  if (task) {
    task(nullptr);  // the loop has finished: nothing can touch a connection any more
    return;
  }
  wake();
}

void IoLoop::wake() noexcept {
  if (sleeping_.exchange(false)) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

void IoLoop::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

std::string IoLoop::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

void IoLoop::set_error(const std::string& why) {
  std::lock_guard lock(error_mutex_);
  last_error_ = why;
}

void IoLoop::run() {
  thread_id_.store(std::this_thread::get_id());
  ext::detail::name_thread("herald-" + role_);  // herald-consumer, herald-publishe(r), herald-admin
  // At start every host gets one try before the error is reported.
  bool ok = false;
  for (std::size_t i = 0; i < settings_.endpoint.hosts.size() && !ok && !stopping_.load(); ++i) ok = try_connect();
  {
    std::lock_guard lock(start_mutex_);
    if (ok) first_error_ = nullptr;  // an earlier host failed, a later one answered
    first_done_ = true;
  }
  start_cv_.notify_all();
  if (!ok) {
    std::lock_guard lock(tasks_mutex_);
    stopped_ = true;
    return;
  }

  while (!stopping_.load()) {
    try {
      if (!connection_) {
        auto now = std::chrono::steady_clock::now();
        if (now >= next_attempt_ && try_connect()) continue;
        bool busy = run_tasks();
        busy |= client_.on_idle(nullptr);
        if (!busy) {
          auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - std::chrono::steady_clock::now());
          sleep_until_woken(std::clamp(wait, std::chrono::milliseconds(1), std::min(idle_poll, client_.max_sleep())));
        }
        continue;
      }
      bool busy = run_tasks();
      if (!connection_) continue;
      busy |= client_.on_idle(connection_.get());
      busy |= read_frames();
      if (!busy) sleep_until_woken(std::min(idle_poll, client_.max_sleep()));
    } catch (const ConnectionLost& e) {
      drop_connection(e.what());
    } catch (const std::exception& e) {
      // A task failed without breaking the connection: its caller was told
      // (call() forwards exceptions); a broken connection is re-opened.
      if (connection_ && !connection_->usable()) drop_connection(e.what());
    }
  }

  // Last turn: acks and cancels posted before stop() still reach the broker.
  try {
    run_tasks();
    if (connection_) client_.on_idle(connection_.get());
  } catch (const std::exception&) {
  }
  std::vector<Task> left;
  {
    std::lock_guard lock(tasks_mutex_);
    stopped_ = true;
    left.swap(tasks_);
  }
  for (auto& t : left) {
    try {
      t(nullptr);
    } catch (const std::exception&) {
    }
  }
  if (connection_) {
    connected_.store(false, std::memory_order_release);
    connection_.reset();  // closes channels and the connection politely
  }
}

bool IoLoop::try_connect() {
  const auto& hosts = settings_.endpoint.hosts;
  try {
    connection_ = std::make_unique<Connection>(settings_, next_host_ % hosts.size(), role_);
    client_.on_connected(*connection_);
    partial_.clear();
    backoff_ = std::chrono::milliseconds(0);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    connected_.store(true, std::memory_order_release);
    if (std::exchange(reconnecting_, false))
      log(LogLevel::info, "herald.rabbitmq", role_ + ": reconnected to " + settings_.endpoint.redacted);
    return true;
  } catch (const std::exception& e) {
    std::string why = e.what();
    bool had_connection = connection_ != nullptr;
    connection_.reset();
    if (had_connection) client_.on_disconnected(why);
    set_error(why);
    ++next_host_;
    backoff_ = backoff_.count() == 0 ? settings_.options.reconnect_delay
                                     : std::min(backoff_ * 2, settings_.options.reconnect_max_delay);
    next_attempt_ = std::chrono::steady_clock::now() + backoff_;
    if (!first_done_) first_error_ = std::current_exception();
    // A failure at start reaches the caller as an exception instead.
    else if (log_enabled(LogLevel::warn))
      log(LogLevel::warn, "herald.rabbitmq", role_ + ": cannot connect to " + settings_.endpoint.redacted + ": " + why +
                                                 "; next try in " + std::to_string(backoff_.count()) + " ms");
    return false;
  }
}

void IoLoop::drop_connection(const std::string& why) {
  connected_.store(false, std::memory_order_release);
  // With several hosts (a cluster) the next try goes to another node first:
  // the one just lost may be dead, and a dead host that does not refuse
  // costs a whole connect_timeout.
  ++next_host_;
  set_error(why);
  partial_.clear();
  connection_.reset();
  client_.on_disconnected(why);
  if (!stopping_.load()) {
    log(LogLevel::warn, "herald.rabbitmq", role_ + ": connection to " + settings_.endpoint.redacted + " lost: " + why + "; reconnecting");
    reconnecting_ = true;
  }
  // Reconnect soon, then back off if that fails too.
  backoff_ = std::chrono::milliseconds(0);
  next_attempt_ = std::chrono::steady_clock::now() + settings_.options.reconnect_delay;
}

bool IoLoop::run_tasks() {
  if (!has_tasks_.load(std::memory_order_acquire)) return false;
  std::vector<Task> batch;
  {
    std::lock_guard lock(tasks_mutex_);
    batch.swap(tasks_);
    has_tasks_.store(false, std::memory_order_release);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    try {
      batch[i](connection_.get());
    } catch (...) {
      // Tasks not run yet go back to the front, in order, for after the reconnect.
      std::lock_guard lock(tasks_mutex_);
      tasks_.insert(tasks_.begin(), std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(i) + 1),
                    std::make_move_iterator(batch.end()));
      has_tasks_.store(!tasks_.empty(), std::memory_order_release);
      throw;
    }
  }
  return !batch.empty();
}

bool IoLoop::read_frames() {
  amqp_connection_state_t state = connection_->get();
  int n = 0;
  for (; n < frames_per_turn; ++n) {
    amqp_frame_t frame;
    timeval zero{0, 0};
    int rc = amqp_simple_wait_frame_noblock(state, &frame, &zero);
    if (rc == AMQP_STATUS_TIMEOUT) break;
    if (rc != AMQP_STATUS_OK) connection_->lost("reading from the broker", status_text(rc));
    handle_frame(frame);
    if (!connection_) return true;
  }
  if (n > 0) client_.on_frames_done();
  amqp_maybe_release_buffers(state);
  return n > 0;
}

void IoLoop::handle_frame(amqp_frame_t& frame) {
  Connection& c = *connection_;
  const amqp_channel_t ch = frame.channel;
  switch (frame.frame_type) {
    case AMQP_FRAME_METHOD: {
      const amqp_method_t& m = frame.payload.method;
      if (m.id == AMQP_BASIC_DELIVER_METHOD) {
        const auto* d = static_cast<const amqp_basic_deliver_t*>(m.decoded);
        Partial& p = partial(ch);
        p = Partial{};
        p.kind = m.id;
        p.message.channel = ch;
        p.message.delivery_tag = d->delivery_tag;
        p.message.redelivered = d->redelivered != 0;
        p.message.exchange = to_string(d->exchange);
        p.message.routing_key = to_string(d->routing_key);
      } else if (m.id == AMQP_BASIC_RETURN_METHOD) {
        const auto* r = static_cast<const amqp_basic_return_t*>(m.decoded);
        Partial& p = partial(ch);
        p = Partial{};
        p.kind = m.id;
        p.message.channel = ch;
        p.message.reply_code = r->reply_code;
        p.message.reply_text = to_string(r->reply_text);
        p.message.exchange = to_string(r->exchange);
        p.message.routing_key = to_string(r->routing_key);
      } else if (m.id == AMQP_CONNECTION_CLOSE_METHOD) {
        c.on_close_method(m, ch, "reading from the broker");
      } else if (m.id == AMQP_CHANNEL_CLOSE_METHOD) {
        partial(ch) = Partial{};
        try {
          c.on_close_method(m, ch, "channel " + std::to_string(ch));
        } catch (const ConnectionLost&) {
          throw;
        } catch (const std::exception& e) {
          client_.on_channel_closed(c, ch, e.what());
        }
      } else {
        client_.on_method(c, ch, m);
      }
      return;
    }
    case AMQP_FRAME_HEADER: {
      Partial& p = partial(ch);
      if (!p.kind) return;
      p.have_header = true;
      p.body_size = frame.payload.properties.body_size;
      p.message.properties = Properties::from(*static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded));
      p.message.body.reserve(p.body_size);
      break;
    }
    case AMQP_FRAME_BODY: {
      Partial& p = partial(ch);
      if (!p.kind || !p.have_header) return;
      p.message.body.append(to_view(frame.payload.body_fragment));
      break;
    }
    default:
      return;
  }
  Partial& p = partial(ch);
  if (!p.kind || !p.have_header || p.message.body.size() < p.body_size) return;
  amqp_method_number_t kind = p.kind;
  Delivery message = std::move(p.message);
  p.kind = 0;
  p.have_header = false;
  client_.on_message(c, kind, std::move(message));
}

void IoLoop::sleep_until_woken(std::chrono::milliseconds timeout) {
  sleeping_.store(true);
  if (has_tasks_.load() || client_.has_work() || stopping_.load()) {
    sleeping_.store(false);
    return;
  }
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {connection_ ? connection_->sockfd() : -1, POLLIN, 0}};
  sleep_ms_.store(timeout.count(), std::memory_order_relaxed);
  ::poll(fds, connection_ ? 2 : 1, static_cast<int>(timeout.count()));
  sleep_ms_.store(0, std::memory_order_relaxed);
  sleeping_.store(false);
  if (fds[0].revents & POLLIN) {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(wake_fd_, &value, sizeof value);
  }
}

}  // namespace herald::rabbitmq
