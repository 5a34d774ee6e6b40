#pragma once
// One HTTP/1.1 request to a server on 127.0.0.1, its reply read whole: how
// the tests of the admin endpoint, `herald serve` and the Prometheus server
// they start talk to them.

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace herald::test {

/// `timeout` bounds connect, write and read together; zero: no bound.
inline boost::beast::http::response<boost::beast::http::string_body> http_request(
    std::uint16_t port, boost::beast::http::verb verb, const std::string& target,
    const std::string& authorization = {}, std::chrono::milliseconds timeout = {}) {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  if (timeout.count() > 0) stream.expires_after(timeout);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> request(verb, target, 11);
  request.set(http::field::host, "127.0.0.1");
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  http::write(stream, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  boost::beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return response;
}

}  // namespace herald::test
