// heroshhi — EnvKeyProvider: data keys from an environment variable (containers, CI).
#pragma once

#include <string>

#include <heroshhi/crypto/key_provider.hpp>

namespace heroshhi::crypto {

/// Reads keys from an environment variable (HEROSHHI_KEYS by default) holding comma-separated
/// entries "id:base64[:primary]":
///
///     HEROSHHI_KEYS="1:1WpBh+xEc1VZxGcfIUblwJggwt3bR9RflYUlZo0Kbv4=,2:+vGh0rdmWHdjTtGm2ZpgNPHFrU44eYBTaD5P0NpPZbI="
///
/// The same rules as FileKeyProvider: ids 1..4294967295 once each, the entry marked "primary" or
/// else the highest id. Errors name the variable and the entry number, never the key text.
/// load_keys() reads the variable on every call (getenv); it is thread-safe as long as nothing
/// calls setenv at the same time.
class EnvKeyProvider final : public KeyProvider {
public:
    explicit EnvKeyProvider(std::string variable = "HEROSHHI_KEYS") : variable_(std::move(variable)) {}

    Result<KeySet> load_keys() const override;

    const std::string& variable() const noexcept { return variable_; }

private:
    std::string variable_;
};

}  // namespace heroshhi::crypto
