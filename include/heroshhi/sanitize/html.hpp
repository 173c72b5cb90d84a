// heroshhi — HTML encoding of untrusted text (a lead's name, a message body) for element content and
// for attribute values, so that a browser shows the text and never runs it as markup.
#pragma once

#include <string>
#include <string_view>

namespace heroshhi::sanitize {

/// Encodes `text` for HTML element content (between tags, e.g. `<td>…</td>`), by OWASP's XSS
/// Prevention Cheat Sheet rule: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`, `"` → `&quot;`,
/// `'` → `&#x27;`; every other byte is copied unchanged.
///
/// The result is safe in element content and in a quoted attribute value, and a browser renders
/// it as exactly the original text. It is NOT safe inside `<script>`, `<style>`, comments, tag or
/// attribute names, event handlers or URLs: those contexts need their own encoding (OWASP).
///
/// `text` should be UTF-8 (validate it at intake, see utf8.hpp). Invalid bytes are copied as they
/// are: a UTF-8 decoder never joins an ASCII byte into an invalid sequence, so they can show as
/// U+FFFD but never form markup. Clean runs are found 16 bytes at a time (SSE2; 8 at a time with
/// plain 64-bit words elsewhere) and copied in one piece. Never throws except std::bad_alloc;
/// thread-safe.
std::string encode_html_content(std::string_view text);

/// Same as encode_html_content, appending to `out` (so one buffer can be reused).
void append_html_content(std::string& out, std::string_view text);

/// Encodes `text` for an HTML attribute value, by OWASP's attribute rule (the OWASP ESAPI
/// encoder's set): ASCII letters and digits, `,` `.` `-` `_` and every non-ASCII byte are copied;
/// `&` `<` `>` `"` become `&amp;` `&lt;` `&gt;` `&quot;`; NUL becomes `&#xFFFD;` (what a browser
/// makes of it anyway); every other ASCII byte (space, quotes, backtick, `=`, controls) becomes
/// `&#xHH;`. Always put the result in quotes (`title="…"`); the encoding is strict enough to stay
/// inert even if a template forgets them, as OWASP recommends. Not for URLs in `href`/`src` (a
/// `javascript:` URL is still a URL) nor for event-handler attributes.
///
/// The same guarantees as encode_html_content otherwise: the browser's attribute value is the
/// original text (NUL excepted). Never throws except std::bad_alloc; thread-safe.
std::string encode_html_attribute(std::string_view text);

/// Same as encode_html_attribute, appending to `out`.
void append_html_attribute(std::string& out, std::string_view text);

}  // namespace heroshhi::sanitize
