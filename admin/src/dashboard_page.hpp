#pragma once
// The dashboard GET / serves: admin/dashboard/index.html, compiled in by
// admin/dashboard/embed.cmake (dashboard_page.cpp is generated at build time).

#include <string_view>

namespace herald::admin {

/// The page: one HTML document with its style and script inline.
std::string_view dashboard_page() noexcept;

/// Its Content-Security-Policy: the inline script and style allowed by their
/// SHA-256 hashes alone, requests to this origin only.
std::string_view dashboard_csp() noexcept;

}  // namespace herald::admin
