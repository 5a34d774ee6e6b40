# Compiles the dashboard page into the admin library:
#   cmake -DINPUT=index.html -DOUTPUT=dashboard_page.cpp -P embed.cmake
# The page becomes a raw string literal; its one inline <script> and <style>
# are hashed (SHA-256, base64) into the Content-Security-Policy the page is
# served with, so the browser runs that script and no other.
file(READ "${INPUT}" page)

set(delimiter "herald_dashboard")
string(FIND "${page}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} holds the raw string delimiter ')${delimiter}\"'")
endif()

set(alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

# The CSP source of the one element `tag`: 'sha256-<base64 of its text>'.
function(inline_hash tag out)
  string(FIND "${page}" "<${tag}>" open)
  string(FIND "${page}" "<${tag}>" last_open REVERSE)
  string(FIND "${page}" "</${tag}>" close)
  if(open EQUAL -1 OR close EQUAL -1 OR NOT open EQUAL last_open)
    message(FATAL_ERROR "${INPUT} must hold exactly one <${tag}> element without attributes")
  endif()
  string(LENGTH "<${tag}>" skip)
  math(EXPR start "${open} + ${skip}")
  math(EXPR length "${close} - ${start}")
  string(SUBSTRING "${page}" ${start} ${length} text)
  string(SHA256 hex "${text}")
  # 32 bytes padded to 33 make 11 groups of 3 bytes, 44 characters; the
  # last one stands for the padding byte and becomes '='.
  string(APPEND hex "00")
  set(b64 "")
  foreach(group RANGE 0 10)
    math(EXPR offset "${group} * 6")
    string(SUBSTRING "${hex}" ${offset} 6 chunk)
    math(EXPR value "0x${chunk}")
    foreach(shift 18 12 6 0)
      math(EXPR index "(${value} >> ${shift}) & 63")
      string(SUBSTRING "${alphabet}" ${index} 1 char)
      string(APPEND b64 "${char}")
    endforeach()
  endforeach()
  string(SUBSTRING "${b64}" 0 43 b64)
  set(${out} "'sha256-${b64}='" PARENT_SCOPE)
endfunction()

inline_hash(script script_hash)
inline_hash(style style_hash)
set(csp "default-src 'none'; script-src ${script_hash}; style-src ${style_hash}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

file(WRITE "${OUTPUT}.tmp" "// Generated from admin/dashboard/index.html by admin/dashboard/embed.cmake: edit those.
#include \"dashboard_page.hpp\"

namespace herald::admin {

std::string_view dashboard_page() noexcept {
  return R\"${delimiter}(${page})${delimiter}\";
}

std::string_view dashboard_csp() noexcept {
  return \"${csp}\";
}

}  // namespace herald::admin
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
