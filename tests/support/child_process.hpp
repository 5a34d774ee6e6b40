#pragma once
// A program the test runs as a child process: it reads what the child
// prints (line by line or all of it, with deadlines) and ends it on purpose
// (SIGKILL, or SIGTERM to let it finish). The child's stdin is a pipe held
// open by this object, so a child that reads stdin until it closes runs
// until the test ends it.

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herald::test {

struct ChildOptions {
  /// Set in the child's environment, over this process's.
  std::map<std::string, std::string> env;
  /// Its stdout into a pipe the test reads; false leaves it on the test's
  /// own stdout (in the test log).
  bool capture_output = true;
  /// Its stderr into the same pipe (with capture_output).
  bool capture_errors = false;
  /// A lower limit of open files for the child.
  std::optional<rlim_t> max_open_files;
};

/// What a shell command printed and how it ended.
struct ShellRun {
  /// -1 when a signal ended it.
  int exit_code = -1;
  /// Its stdout (commands add 2>&1 to have stderr too).
  std::string output;
};
/// Runs `command` with sh and waits for it to end. Throws
/// std::runtime_error when it cannot start.
ShellRun run_shell(const std::string& command);

class ChildProcess {
 public:
  /// Starts args[0] (a path) with `args`; throws std::runtime_error when it
  /// cannot.
  explicit ChildProcess(const std::vector<std::string>& args, const ChildOptions& options = {});
  /// Kills it (SIGKILL) when still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  /// Its next output line, or nullopt when none came in time (or it exited).
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  /// Everything it printed so far, after waiting up to `wait` for more.
  const std::string& output(std::chrono::milliseconds wait = std::chrono::milliseconds(0));

  /// Whether it is still running (reaps it when it has exited).
  bool running();
  /// SIGKILL (when still running) and reap: no chance to finish anything.
  void kill9();
  /// SIGTERM, then SIGKILL if it has not exited within `grace`; reaps it and
  /// returns its exit code (-1 when a signal ended it).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(30));
  /// Reaps it (waiting as long as it runs); returns the signal that ended it
  /// (0 when it exited).
  int wait();

 private:
  bool read_more(int wait_ms);
  void reaped(int status);

  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  int status_ = 0;
  std::string output_;
  std::size_t line_start_ = 0;  // output_ before it was handed out by read_line
};

}  // namespace herald::test
