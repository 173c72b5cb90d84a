// heroshhi (internal) — an open-addressing hash table keyed by non-zero 64-bit integers, with
// linear probing and values stored inline. Not thread-safe: callers lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace heroshhi::detail {

/// Fibonacci hashing: spreads consecutive keys (phone numbers often are) over the whole table.
inline std::uint64_t mix64(std::uint64_t k) noexcept {
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ULL;
    return k ^ (k >> 29);
}

template <class Value>
class FlatTable {
public:
    struct Slot {
        std::uint64_t key = 0;  // 0 marks an empty slot; phone keys are never 0
        Value value{};
    };

    /// The value for `key`, or nullptr.
    const Value* find(std::uint64_t key, std::uint64_t hash) const noexcept {
        if (slots_.empty()) return nullptr;
        for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.key == key) return &s.value;
            if (s.key == 0) return nullptr;
        }
    }

    /// The value for `key`, inserted default-constructed if absent.
    Value& upsert(std::uint64_t key, std::uint64_t hash) {
        if ((size_ + 1) * 10 > slots_.size() * 7) grow();
        for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.key == key) return s.value;
            if (s.key == 0) {
                s.key = key;
                ++size_;
                return s.value;
            }
        }
    }

    std::size_t size() const noexcept { return size_; }
    std::size_t memory_bytes() const noexcept { return slots_.capacity() * sizeof(Slot); }
    void clear() {
        slots_.clear();
        slots_.shrink_to_fit();
        size_ = 0;
        mask_ = 0;
    }

private:
    void grow() {
        std::vector<Slot> old;
        old.swap(slots_);
        const std::size_t capacity = old.empty() ? 16 : old.size() * 2;
        slots_.assign(capacity, Slot{});
        mask_ = capacity - 1;
        size_ = 0;
        for (Slot& s : old)
            if (s.key != 0) upsert(s.key, mix64(s.key)) = std::move(s.value);
    }

    std::vector<Slot> slots_;
    std::size_t size_ = 0;
    std::size_t mask_ = 0;
};

}  // namespace heroshhi::detail
