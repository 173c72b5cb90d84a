#include <heroshhi/messaging/audience.hpp>

#include "../detail/flat_table.hpp"

namespace heroshhi::messaging {
namespace {

class Filter {
public:
    Filter(const SendGate& gate, const SuppressionIndex& index, const TenantId& tenant, MessageKind kind, Timestamp now,
           std::size_t expected)
        : gate_(gate), index_(index), tenant_(tenant), kind_(kind), now_(now) {
        out_.sendable.reserve(expected);
    }

    void add(const PhoneNumber& phone) {
        bool& seen_before = seen_.upsert(phone.key(), detail::mix64(phone.key()));
        if (seen_before) {
            ++out_.duplicates;
            return;
        }
        seen_before = true;
        const Decision d = gate_.decide(index_.find(tenant_, phone), phone, kind_, now_);
        switch (d.reason()) {
            case Reason::allowed: out_.sendable.push_back(phone); break;
            case Reason::opted_out: ++out_.opted_out; break;
            case Reason::marketing_opted_out: ++out_.marketing_opted_out; break;
            case Reason::no_consent: ++out_.no_consent; break;
            case Reason::restricted: ++out_.restricted; break;
            case Reason::outside_window: ++out_.outside_window; break;
            case Reason::store_unavailable: ++out_.store_unavailable; break;
            default: ++out_.opted_out; break;  // confirmation-only kinds: nobody is a campaign target
        }
    }
    void invalid() { ++out_.invalid_number; }
    AudienceResult take() { return std::move(out_); }

private:
    const SendGate& gate_;
    const SuppressionIndex& index_;
    const TenantId& tenant_;
    MessageKind kind_;
    Timestamp now_;
    detail::FlatTable<bool> seen_;
    AudienceResult out_;
};

}  // namespace

AudienceResult Audience::filter(const TenantId& tenant, std::span<const PhoneNumber> contacts, MessageKind kind) const {
    Filter f(gate_, index_, tenant, kind, clock_.now(), contacts.size());
    for (const PhoneNumber& p : contacts) f.add(p);
    return f.take();
}

AudienceResult Audience::filter_raw(const TenantId& tenant, std::span<const std::string> contacts, MessageKind kind,
                                    std::string_view default_region) const {
    Filter f(gate_, index_, tenant, kind, clock_.now(), contacts.size());
    for (const std::string& raw : contacts) {
        if (auto p = PhoneNumber::parse(raw, default_region))
            f.add(*p);
        else
            f.invalid();
    }
    return f.take();
}

}  // namespace heroshhi::messaging
