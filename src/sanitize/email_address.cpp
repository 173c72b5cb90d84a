#include <heroshhi/sanitize/email_address.hpp>

#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/sanitize/text_rules.hpp>

#include <string>

namespace heroshhi::sanitize {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
bool is_atext(unsigned char c) {
    if (c >= 0x80 || is_alnum(c)) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '/':
        case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
            return true;
        default:
            return false;
    }
}

Error invalid(std::string detail) { return Error(SanitizeErrc::invalid_email, std::move(detail)); }

}  // namespace

Result<EmailAddress> EmailAddress::parse(std::string_view raw) {
    while (!raw.empty() && is_space(raw.front())) raw.remove_prefix(1);
    while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
    if (raw.empty()) return invalid("empty");
    if (raw.size() > max_length) return invalid("longer than 254 bytes");
    TextRules text_rules;
    text_rules.max_code_points = max_length;
    if (auto ok = validate_text(raw, text_rules, "email"); !ok) return ok.error();

    const std::size_t at = raw.rfind('@');
    if (at == std::string_view::npos) return invalid("missing '@'");
    const std::string_view local = raw.substr(0, at);
    const std::string_view domain = raw.substr(at + 1);
    if (local.empty()) return invalid("empty local part");
    if (local.size() > 64) return invalid("local part longer than 64 bytes");
    if (local.front() == '"') return invalid("quoted local parts are not accepted");
    if (local.front() == '.' || local.back() == '.') return invalid("local part begins or ends with '.'");
    for (std::size_t i = 0; i < local.size(); ++i) {
        const auto c = static_cast<unsigned char>(local[i]);
        if (c == '.') {
            if (local[i + 1] == '.') return invalid("consecutive dots in the local part");
        } else if (c == '@') {
            return invalid("more than one '@'");
        } else if (!is_atext(c)) {
            return invalid("character not allowed in the local part");
        }
    }

    if (domain.empty()) return invalid("empty domain");
    if (domain.front() == '[') return invalid("IP-address domains are not accepted");
    if (domain.size() > 253) return invalid("domain longer than 253 bytes");
    std::size_t labels = 0;
    std::string_view last_label;
    for (std::size_t start = 0; start <= domain.size();) {
        std::size_t end = domain.find('.', start);
        if (end == std::string_view::npos) end = domain.size();
        const std::string_view label = domain.substr(start, end - start);
        if (label.empty()) return invalid("empty label in the domain");
        if (label.size() > 63) return invalid("domain label longer than 63 bytes");
        if (label.front() == '-' || label.back() == '-') return invalid("domain label begins or ends with '-'");
        for (const char ch : label) {
            const auto c = static_cast<unsigned char>(ch);
            if (!(c >= 0x80 || is_alnum(c) || c == '-')) return invalid("character not allowed in the domain");
        }
        ++labels;
        last_label = label;
        start = end + 1;
    }
    if (labels < 2) return invalid("domain has no '.'");
    bool numeric = true;
    for (const char c : last_label) numeric = numeric && c >= '0' && c <= '9';
    if (numeric) return invalid("top-level domain is numeric");

    std::string normalized(raw);
    for (char& c : normalized)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return EmailAddress(std::string(raw), std::move(normalized), at);
}

}  // namespace heroshhi::sanitize
