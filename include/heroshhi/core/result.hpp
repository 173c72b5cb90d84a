// heroshhi — Result<T>: a value or an Error, the return type of every fallible call.
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace heroshhi {

/// A fault: a categorised code (compare it with an area's enum, e.g. `StorageErrc::unavailable`)
/// plus a sentence for humans that says what exactly was wrong. The detail never carries message
/// bodies; it may name a field, a limit or a file path.
class Error {
public:
    Error(std::error_code code, std::string detail = {}) : code_(code), detail_(std::move(detail)) {}

    template <class Enum, std::enable_if_t<std::is_error_code_enum_v<Enum>, int> = 0>
    Error(Enum e, std::string detail = {}) : Error(make_error_code(e), std::move(detail)) {}

    const std::error_code& code() const noexcept { return code_; }
    const std::string& detail() const noexcept { return detail_; }

    /// "category: code message: detail", suitable for a log line or an HTTP error body.
    std::string message() const {
        std::string out = code_.category().name();
        out += ": ";
        out += code_.message();
        if (!detail_.empty()) {
            out += ": ";
            out += detail_;
        }
        return out;
    }

    friend bool operator==(const Error& e, std::error_code c) noexcept { return e.code_ == c; }
    template <class Enum, std::enable_if_t<std::is_error_code_enum_v<Enum>, int> = 0>
    friend bool operator==(const Error& e, Enum c) noexcept { return e.code_ == make_error_code(c); }

private:
    std::error_code code_;
    std::string detail_;
};

/// Either a T or an Error. Accessing the wrong alternative is a programming error (asserted).
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
    template <class Enum, std::enable_if_t<std::is_error_code_enum_v<Enum>, int> = 0>
    Result(Enum e, std::string detail = {}) : v_(std::in_place_index<1>, Error(e, std::move(detail))) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(v_); }
    const T& value() const& { assert(has_value()); return std::get<0>(v_); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { assert(!has_value()); return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

/// Result of an operation with no value: success, or an Error.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}
    template <class Enum, std::enable_if_t<std::is_error_code_enum_v<Enum>, int> = 0>
    Result(Enum e, std::string detail = {}) : error_(Error(e, std::move(detail))), ok_(false) {}

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const Error& error() const { assert(!ok_); return error_; }

private:
    Error error_{std::error_code{}};
    bool ok_ = true;
};

}  // namespace heroshhi
