// heroshhi — FileKeyProvider: data keys from a file (a mounted secret, a file only the service
// user can read).
#pragma once

#include <string>

#include <heroshhi/crypto/key_provider.hpp>

namespace heroshhi::crypto {

/// Reads keys from a text file, one per line:
///
///     # heroshhi data keys: id, base64 of 32 bytes, optional "primary"
///     1 1WpBh+xEc1VZxGcfIUblwJggwt3bR9RflYUlZo0Kbv4=
///     2 +vGh0rdmWHdjTtGm2ZpgNPHFrU44eYBTaD5P0NpPZbI=  primary
///
/// Blank lines and lines starting with '#' are ignored. Ids are decimal, 1 to 4294967295, each
/// once. The primary is the line marked "primary" (at most one), otherwise the highest id: to
/// rotate, append a key with a higher id and reload.
///
/// With `require_owner_only` (the default) the file must not be readable or writable by group or
/// others (mode 0600 or 0400), as ssh does for private keys; turn it off for secret mounts that
/// cannot set modes. Errors name the path and the line number, never the key text. Buffers that
/// held the file are wiped. load_keys() reads the file on every call; thread-safe.
class FileKeyProvider final : public KeyProvider {
public:
    explicit FileKeyProvider(std::string path, bool require_owner_only = true)
        : path_(std::move(path)), require_owner_only_(require_owner_only) {}

    Result<KeySet> load_keys() const override;

    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    bool require_owner_only_;
};

}  // namespace heroshhi::crypto
