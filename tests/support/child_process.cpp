#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace herald::test {

namespace {

// This process's environment with `extra` set over it.
std::vector<std::string> environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string v(*e);
    if (!extra.count(v.substr(0, v.find('=')))) vars.push_back(std::move(v));
  }
  for (const auto& [k, v] : extra) vars.push_back(k + "=" + v);
  return vars;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

ShellRun run_shell(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run '" + command + "'");
  ShellRun run;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, n);
  int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

ChildProcess::ChildProcess(const std::vector<std::string>& args, const ChildOptions& options) {
  if (args.empty()) throw std::runtime_error("ChildProcess: no program");
  int out[2] = {-1, -1}, in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (options.capture_output && ::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw std::runtime_error("pipe2 failed");
  }
  // Everything the child needs is made before fork: after it, in a process
  // with threads, only async-signal-safe calls are allowed until exec.
  std::vector<std::string> arg_strings = args, env_strings = environment(options.env);
  std::vector<char*> argv = pointers(arg_strings), envp = pointers(env_strings);
  rlimit files{};
  if (options.max_open_files) files = {*options.max_open_files, *options.max_open_files};
  const bool limit_files = options.max_open_files.has_value();
  const bool capture = options.capture_output, errors = options.capture_output && options.capture_errors;

  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(in[0], STDIN_FILENO);
    if (capture) ::dup2(out[1], STDOUT_FILENO);
    if (errors) ::dup2(out[1], STDERR_FILENO);
    if (limit_files && ::setrlimit(RLIMIT_NOFILE, &files) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(in[0]);
  in_ = in[1];
  if (capture) {
    ::close(out[1]);
    out_ = out[0];
  }
  if (pid_ < 0) {
    ::close(in_);
    if (out_ >= 0) ::close(out_);
    throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(fork_errno));
  }
}

ChildProcess::~ChildProcess() {
  kill9();
  if (out_ >= 0) ::close(out_);
  ::close(in_);
}

bool ChildProcess::read_more(int wait_ms) {
  if (out_ < 0) return false;
  pollfd p{out_, POLLIN, 0};
  if (::poll(&p, 1, wait_ms) <= 0) return false;
  char chunk[4096];
  ssize_t n = ::read(out_, chunk, sizeof chunk);
  if (n <= 0) return false;
  output_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
  if (out_ < 0) return std::nullopt;  // its output is not captured
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = output_.find('\n', line_start_); nl != std::string::npos) {
      std::string line = output_.substr(line_start_, nl - line_start_);
      line_start_ = nl + 1;
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    if (!read_more(0)) return std::nullopt;  // closed: it exited
  }
}

const std::string& ChildProcess::output(std::chrono::milliseconds wait) {
  int wait_ms = static_cast<int>(wait.count());
  while (read_more(wait_ms)) wait_ms = 0;
  return output_;
}

void ChildProcess::reaped(int status) {
  pid_ = -1;
  status_ = status;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
  reaped(status);
  return false;
}

void ChildProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait();
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + grace;
    while (running() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    kill9();
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

int ChildProcess::wait() {
  if (pid_ > 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped(status);
  }
  return WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
}

}  // namespace herald::test
