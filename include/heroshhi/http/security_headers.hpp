// heroshhi — the security headers every HTTP response carries.
#pragma once

#include <span>
#include <string_view>
#include <utility>

namespace heroshhi::http {

using Header = std::pair<std::string_view, std::string_view>;

/// Helmet 8's default headers (reference/websec.md §1.1), with the policy's X-Frame-Options: DENY
/// and, to match it, CSP `frame-ancestors 'none'`; X-XSS-Protection: 0 (the old filter causes XSS,
/// so Helmet and OWASP switch it off). No Server or X-Powered-By header is ever sent.
std::span<const Header> security_headers() noexcept;

/// What API (JSON) responses add: `Cache-Control: no-store`, so personal data is not cached.
std::span<const Header> api_headers() noexcept;

/// Headers a response must never carry (they reveal the software): Server, X-Powered-By, ...
std::span<const std::string_view> forbidden_headers() noexcept;

}  // namespace heroshhi::http
