#include <heroshhi/crypto/file_key_provider.hpp>

#include "detail/key_list.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace heroshhi::crypto {
namespace {

/// The whole file, or an error; the caller wipes the buffer.
Result<std::string> read_all(const std::string& path, bool require_owner_only) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) return Error(CryptoErrc::key_source_failed, path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(::fileno(f.get()), &st) != 0)
        return Error(CryptoErrc::key_source_failed, path + ": cannot stat (" + std::strerror(errno) + ")");
    if (!S_ISREG(st.st_mode)) return Error(CryptoErrc::key_source_failed, path + ": not a regular file");
    if (require_owner_only && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return Error(CryptoErrc::key_source_failed,
                     path + ": readable or writable by group or others (chmod 600 it, or turn require_owner_only off)");
    if (st.st_size > 1 << 20) return Error(CryptoErrc::key_source_failed, path + ": larger than 1 MiB");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    const std::size_t n = std::fread(text.data(), 1, text.size(), f.get());
    if (n != text.size() || std::ferror(f.get())) {
        secure_wipe(text.data(), text.size());
        return Error(CryptoErrc::key_source_failed, path + ": read failed");
    }
    return text;
}

}  // namespace

Result<KeySet> FileKeyProvider::load_keys() const {
    auto read = read_all(path_, require_owner_only_);
    if (!read) return read.error();
    std::string text = std::move(read).value();
    detail::KeyListBuilder builder;
    std::optional<Error> failure;
    std::size_t line_no = 0;
    for (std::size_t start = 0; start < text.size() && !failure;) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        ++line_no;
        start = end + 1;
        const auto f = detail::fields(line);
        if (f.empty() || f[0].front() == '#') continue;
        const std::string where = path_ + " line " + std::to_string(line_no);
        if (f.size() < 2 || f.size() > 3) {
            failure = Error(CryptoErrc::key_source_failed, where + ": expected \"<id> <base64 key> [primary]\"");
            break;
        }
        if (auto ok = builder.add(f[0], f[1], f.size() == 3 ? f[2] : std::string_view(), where); !ok) failure = ok.error();
    }
    secure_wipe(text.data(), text.size());
    if (failure) return *failure;
    return std::move(builder).finish(path_);
}

}  // namespace heroshhi::crypto
