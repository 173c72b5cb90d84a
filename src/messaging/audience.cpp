#include <heroshhi/messaging/audience.hpp>

#include "../detail/flat_table.hpp"

#include <utility>

namespace heroshhi::messaging {
namespace {

// Counts one decision into the result; true if the contact may receive the campaign.
bool tally(AudienceResult& out, Reason r) {
    switch (r) {
        case Reason::allowed: return true;
        case Reason::opted_out: ++out.opted_out; break;
        case Reason::marketing_opted_out: ++out.marketing_opted_out; break;
        case Reason::no_consent: ++out.no_consent; break;
        case Reason::restricted: ++out.restricted; break;
        case Reason::outside_window: ++out.outside_window; break;
        case Reason::store_unavailable:
        case Reason::suppression_not_current: ++out.store_unavailable; break;
        default: ++out.not_a_campaign; break;  // a confirmation reason: the kind is not for campaigns
    }
    return false;
}

// Filters packed keys, given by position through `key_at(i)` for i in [0, n). Large audiences
// are processed in partitions by hash so that each partition's duplicate set and the index shard it
// reads stay in the CPU's first-level cache: a 1,000,000-contact audience then costs a few
// sequential passes instead of two cache misses per contact. Within a partition entries keep input
// order, so the first position of a duplicated number is the one kept; a bitmap of allowed
// positions gives the output back in input order.
class Filter {
public:
    Filter(const SendGate& gate, SuppressionIndex::TenantView view, MessageKind kind, Timestamp now)
        : gate_(gate), view_(view), kind_(kind), now_(now) {}

    template <class KeyAt>
    AudienceResult run(std::size_t n, KeyAt&& key_at) {
        AudienceResult out;
        std::vector<std::uint64_t> allowed((n + 63) / 64, 0);
        detail::FlatSet seen;
        std::vector<std::uint64_t> keys;
        std::vector<std::size_t> positions;
        std::vector<SuppressionIndex::Lookup> lookups;
        // De-duplicates a run of entries, looks the unique ones up in one batch, and decides.
        auto decide_run = [&](auto&& entry_at, std::size_t count) {
            seen.clear();
            seen.reserve(count);
            keys.clear();
            positions.clear();
            for (std::size_t i = 0; i < count; ++i) {
                const auto [key, position] = entry_at(i);
                if (key == 0) continue;  // not a number: filter_raw counts those itself
                if (!seen.insert(key, detail::mix64(key))) {
                    ++out.duplicates;
                    continue;
                }
                keys.push_back(key);
                positions.push_back(position);
            }
            lookups.resize(keys.size());
            view_.find_many(keys, lookups.data());
            for (std::size_t i = 0; i < keys.size(); ++i) {
                const Reason r = kind_ == MessageKind::optout_confirmation ? Reason::confirmation_used
                                                                           : gate_.reason(lookups[i], kind_, now_);
                if (tally(out, r)) allowed[positions[i] / 64] |= std::uint64_t{1} << (positions[i] % 64);
            }
        };

        if (n < small_audience) {
            decide_run([&](std::size_t i) { return std::pair{key_at(i), i}; }, n);
        } else {
            constexpr unsigned bits = 10;  // 1,024 partitions; the index shards by the top 8 bits of the same hash
            auto part = [](std::uint64_t key) { return std::size_t(detail::mix64(key) >> (64 - bits)); };
            std::vector<std::size_t> start((std::size_t{1} << bits) + 1, 0);
            for (std::size_t i = 0; i < n; ++i) ++start[part(key_at(i)) + 1];
            for (std::size_t p = 1; p < start.size(); ++p) start[p] += start[p - 1];
            std::vector<std::pair<std::uint64_t, std::size_t>> scattered(n);
            std::vector<std::size_t> fill(start.begin(), start.end() - 1);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t k = key_at(i);
                scattered[fill[part(k)]++] = {k, i};
            }
            for (std::size_t p = 0; p + 1 < start.size(); ++p)
                decide_run([&](std::size_t i) { return scattered[start[p] + i]; }, start[p + 1] - start[p]);
        }

        out.sendable.reserve(n - out.excluded());
        for (std::size_t w = 0; w < allowed.size(); ++w)
            for (std::uint64_t left = allowed[w]; left != 0; left &= left - 1)
                out.sendable.push_back(w * 64 + std::size_t(__builtin_ctzll(left)));
        return out;
    }

private:
    static constexpr std::size_t small_audience = 16384;

    const SendGate& gate_;
    SuppressionIndex::TenantView view_;
    MessageKind kind_;
    Timestamp now_;
};

}  // namespace

AudienceResult Audience::filter(const TenantId& tenant, std::span<const PhoneNumber> contacts, MessageKind kind) const {
    return Filter(gate_, index_.view(tenant), kind, clock_.now())
        .run(contacts.size(), [&](std::size_t i) { return contacts[i].key(); });
}

AudienceResult Audience::filter_raw(const TenantId& tenant, std::span<const std::string> contacts, MessageKind kind,
                                    std::string_view default_region) const {
    // Parsed once; 0 (never a phone key) marks input that is not a number.
    std::vector<std::uint64_t> keys(contacts.size(), 0);
    std::size_t invalid = 0;
    for (std::size_t i = 0; i < contacts.size(); ++i) {
        if (auto p = PhoneNumber::parse(contacts[i], default_region))
            keys[i] = p->key();
        else
            ++invalid;
    }
    AudienceResult out =
        Filter(gate_, index_.view(tenant), kind, clock_.now()).run(keys.size(), [&](std::size_t i) { return keys[i]; });
    out.invalid_number = invalid;
    out.sendable.shrink_to_fit();
    return out;
}

}  // namespace heroshhi::messaging
