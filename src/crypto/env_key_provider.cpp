#include <heroshhi/crypto/env_key_provider.hpp>

#include "detail/key_list.hpp"

#include <cstdlib>
#include <string>

namespace heroshhi::crypto {

Result<KeySet> EnvKeyProvider::load_keys() const {
    const char* value = std::getenv(variable_.c_str());
    if (value == nullptr) return Error(CryptoErrc::key_source_failed, variable_ + " is not set");
    std::string text(value);
    detail::KeyListBuilder builder;
    std::optional<Error> failure;
    std::size_t entry = 0;
    for (std::size_t start = 0; start <= text.size() && !failure;) {
        std::size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string_view item(text.data() + start, end - start);
        start = end + 1;
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        ++entry;
        if (item.empty()) continue;
        const std::string where = variable_ + " entry " + std::to_string(entry);
        const std::size_t c1 = item.find(':');
        const std::size_t c2 = c1 == std::string_view::npos ? c1 : item.find(':', c1 + 1);
        if (c1 == std::string_view::npos) {
            failure = Error(CryptoErrc::key_source_failed, where + ": expected \"<id>:<base64 key>[:primary]\"");
            break;
        }
        const std::string_view id = item.substr(0, c1);
        const std::string_view key = c2 == std::string_view::npos ? item.substr(c1 + 1) : item.substr(c1 + 1, c2 - c1 - 1);
        const std::string_view flag = c2 == std::string_view::npos ? std::string_view() : item.substr(c2 + 1);
        if (auto ok = builder.add(id, key, flag, where); !ok) failure = ok.error();
    }
    secure_wipe(text.data(), text.size());
    if (failure) return *failure;
    return std::move(builder).finish(variable_);
}

}  // namespace heroshhi::crypto
