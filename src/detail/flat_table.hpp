// heroshhi (internal) — small hashing helpers for 64-bit phone keys.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace heroshhi::detail {

/// Spreads consecutive keys (phone numbers often are) over the whole table.
inline std::uint64_t mix64(std::uint64_t k) noexcept {
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ULL;
    return k ^ (k >> 29);
}

/// A set of non-zero 64-bit keys: open addressing, linear probing at load <= 1/2, 8 bytes a slot. Not
/// thread-safe. For one-off work such as de-duplicating an audience.
class FlatSet {
public:
    /// Empties the set, keeping its memory.
    void clear() noexcept {
        std::fill(slots_.begin(), slots_.end(), 0);
        size_ = 0;
    }

    /// Sizes the table for `n` keys so that inserting them never rehashes.
    void reserve(std::size_t n) {
        std::size_t capacity = 16;
        while (capacity < n * 2) capacity *= 2;
        if (capacity > slots_.size()) rehash(capacity);
    }

    /// Inserts `key` (non-zero); returns false if it was already there.
    bool insert(std::uint64_t key, std::uint64_t hash) {
        if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
        for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
            if (slots_[i] == key) return false;
            if (slots_[i] == 0) {
                slots_[i] = key;
                ++size_;
                return true;
            }
        }
    }

    std::size_t size() const noexcept { return size_; }

private:
    void rehash(std::size_t capacity) {
        std::vector<std::uint64_t> old(capacity, 0);
        old.swap(slots_);
        mask_ = capacity - 1;
        size_ = 0;
        for (std::uint64_t k : old)
            if (k != 0) insert(k, mix64(k));
    }

    std::vector<std::uint64_t> slots_;
    std::size_t size_ = 0;
    std::size_t mask_ = 0;
};

}  // namespace heroshhi::detail
