#include "herald/ext/keyed_executor.hpp"

#include <pthread.h>

#include "herald/log.hpp"

namespace herald::ext {

namespace detail {

void name_thread(const std::string& name) noexcept {
  // Linux shows 15 characters and refuses longer names.
  char shown[16] = {};
  name.copy(shown, sizeof(shown) - 1);
  pthread_setname_np(pthread_self(), shown);
}

std::string describe_current_exception() noexcept {
  try {
    try {
      throw;
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "an exception not derived from std::exception";
    }
  } catch (...) {
    return {};  // out of memory copying the message
  }
}

}  // namespace detail

void report_escaped(const std::string& executor, const std::string& what) noexcept {
  try {
    log(LogLevel::error, "herald.executor", executor + ": a job threw, it counts as done: " + what);
  } catch (...) {
    // Out of memory building the line: nothing more to do.
  }
}

}  // namespace herald::ext
