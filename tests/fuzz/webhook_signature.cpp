// Fuzz target: the webhook signature header (crypto::WebhookSignature::verify) with any header
// text. Input: the header text up to the first newline, then the raw body. Properties: a refusal is
// signature_malformed or signature_mismatch, and malformed exactly when the header (trimmed) is not
// "sha256=" and 64 hex digits; it verifies only when those digits are the body's HMAC (either case);
// the header the library itself writes always verifies, with its digits in upper case and with
// whitespace around it too, and changing any one of its digits makes it a mismatch. The prefix is
// matched as written ("SHA256=" is malformed: Meta sends it in lower case).
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>

#include "fuzz_check.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace heroshhi::crypto;

const WebhookSignature& signer() {
    static const WebhookSignature s = WebhookSignature::create("fuzz-app-secret").value();
    return s;
}

std::string_view trimmed(std::string_view s) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

bool well_formed(std::string_view header) {
    header = trimmed(header);
    if (header.substr(0, 7) != "sha256=" || header.size() != 7 + 64) return false;
    for (char c : header.substr(7))
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

/// The header with its hex digits (not its prefix, which must be lower case) in lower case.
std::string lower_digits(std::string_view header) {
    std::string out(trimmed(header));
    for (std::size_t i = 7; i < out.size(); ++i) out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t newline = input.find('\n');
    const std::string_view header = input.substr(0, newline);
    const std::string_view body = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

    const WebhookSignature& s = signer();
    const std::string own = s.header_value(body).value();
    FUZZ_CHECK(own.size() == 7 + 64 && well_formed(own));

    auto verdict = s.verify(body, header);
    if (verdict) {
        FUZZ_CHECK(well_formed(header));
        FUZZ_CHECK(lower_digits(header) == own);
    } else {
        const auto code = verdict.error().code();
        FUZZ_CHECK(code == CryptoErrc::signature_malformed || code == CryptoErrc::signature_mismatch);
        FUZZ_CHECK((code == CryptoErrc::signature_malformed) == !well_formed(header));
        FUZZ_CHECK(lower_digits(header) != own);
    }

    FUZZ_CHECK(s.verify(body, own).has_value());
    std::string upper = "sha256=";
    for (char c : std::string_view(own).substr(7)) upper.push_back(static_cast<char>(std::toupper(c)));
    FUZZ_CHECK(s.verify(body, " \t" + upper + "\r\n").has_value());
    // Change one digit, chosen by the input.
    std::string changed = own;
    const std::size_t at = 7 + (size % 64);
    changed[at] = changed[at] == '0' ? '1' : '0';
    auto forged = s.verify(body, changed);
    FUZZ_CHECK(!forged && forged.error() == CryptoErrc::signature_mismatch);
    return 0;
}
