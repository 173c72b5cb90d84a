// heroshhi — what every storage adapter of the library wraps its work in (private to storage).
#pragma once

#include <cstdint>
#include <exception>
#include <new>
#include <span>
#include <string>

#include <heroshhi/core/result.hpp>
#include <heroshhi/storage/errors.hpp>

namespace heroshhi::storage::detail {

/// An exception that escaped a store's work, as the `unavailable` error a port returns.
inline Error exception_error(const char* what) noexcept {
    try {
        return Error(StorageErrc::unavailable, std::string("unexpected exception: ").append(what));
    } catch (...) {
        return Error(make_error_code(StorageErrc::unavailable));
    }
}

/// Runs `body`, turning any exception (std::bad_alloc, a throwing visitor) into `unavailable`:
/// ports do not throw.
template <class T, class Body>
Result<T> guarded(Body&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return Error(make_error_code(StorageErrc::unavailable));
    } catch (const std::exception& e) {
        return exception_error(e.what());
    } catch (...) {
        return exception_error("unknown exception");
    }
}

/// Lower-case hex of `bytes` (cursor texts of the re-encryption sources).
inline std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const std::uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0xF];
    }
    return out;
}

}  // namespace heroshhi::storage::detail
