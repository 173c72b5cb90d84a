#include <heroshhi/messaging/audience.hpp>

#include "../detail/flat_table.hpp"

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
        case Reason::store_unavailable: ++out.store_unavailable; break;
        default: ++out.opted_out; break;  // confirmation-only kinds: nobody is a campaign target
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
        auto decide = [&](std::uint64_t key, std::size_t position) {
            if (key == 0) return;  // not a number (filter_raw marks those with 0)
            if (!seen.insert(key, detail::mix64(key))) {
                ++out.duplicates;
                return;
            }
            if (tally(out, gate_.reason(view_.find_key(key), kind_, now_)))
                allowed[position / 64] |= std::uint64_t{1} << (position % 64);
        };

        if (n < small_audience) {
            seen.reserve(n);
            for (std::size_t i = 0; i < n; ++i) decide(key_at(i), i);
        } else {
            constexpr unsigned bits = 10;  // 1,024 partitions; the index shards by the top 8 bits of the same hash
            auto part = [](std::uint64_t key) { return std::size_t(detail::mix64(key) >> (64 - bits)); };
            std::vector<std::size_t> start((std::size_t{1} << bits) + 1, 0);
            for (std::size_t i = 0; i < n; ++i) ++start[part(key_at(i)) + 1];
            for (std::size_t p = 1; p < start.size(); ++p) start[p] += start[p - 1];
            struct Entry {
                std::uint64_t key;
                std::size_t position;
            };
            std::vector<Entry> scattered(n);
            std::vector<std::size_t> fill(start.begin(), start.end() - 1);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t k = key_at(i);
                scattered[fill[part(k)]++] = Entry{k, i};
            }
            for (std::size_t p = 0; p + 1 < start.size(); ++p) {
                seen.clear();
                seen.reserve(start[p + 1] - start[p]);
                for (std::size_t i = start[p]; i < start[p + 1]; ++i) decide(scattered[i].key, scattered[i].position);
            }
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
