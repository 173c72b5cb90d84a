// heroshhi (internal) — the entry rules shared by the file and environment key providers.
#pragma once

#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/key_provider.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace heroshhi::crypto::detail {

/// Collects entries "id, base64 key, optional primary flag" into a KeySet. `where` names the
/// source in errors ("keys.txt line 3", "HEROSHHI_KEYS entry 2"); key text never appears.
class KeyListBuilder {
public:
    Result<void> add(std::string_view id_text, std::string_view key_text, std::string_view flag, const std::string& where) {
        std::uint32_t id = 0;
        const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
        if (ec != std::errc() || end != id_text.data() + id_text.size() || id == 0)
            return Error(CryptoErrc::key_source_failed, where + ": the key id is not a number from 1 to 4294967295");
        if (!flag.empty() && flag != "primary")
            return Error(CryptoErrc::key_source_failed, where + ": expected \"primary\" or nothing after the key");
        auto key = SecretKey::from_base64(key_text);
        if (!key) return Error(CryptoErrc::invalid_key, where + ": " + key.error().detail());
        const KeyId kid{id};
        if (std::any_of(set_.keys.begin(), set_.keys.end(), [&](const KeyEntry& e) { return e.id == kid; }))
            return Error(CryptoErrc::duplicate_key, where + ": key id " + std::to_string(id) + " appears twice");
        if (!flag.empty()) {
            if (marked_) return Error(CryptoErrc::key_source_failed, where + ": more than one key is marked primary");
            marked_ = kid;
        }
        set_.keys.push_back(KeyEntry{kid, std::move(key).value()});
        return {};
    }

    Result<KeySet> finish(const std::string& source) && {
        if (set_.keys.empty()) return Error(CryptoErrc::no_keys, source + " holds no key");
        if (marked_) {
            set_.primary = *marked_;
        } else {
            set_.primary = std::max_element(set_.keys.begin(), set_.keys.end(),
                                            [](const KeyEntry& a, const KeyEntry& b) { return a.id < b.id; })->id;
        }
        return std::move(set_);
    }

private:
    KeySet set_;
    std::optional<KeyId> marked_;
};

/// Splits `s` at runs of spaces and tabs.
inline std::vector<std::string_view> fields(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
        if (i > start) out.push_back(s.substr(start, i - start));
    }
    return out;
}

}  // namespace heroshhi::crypto::detail
