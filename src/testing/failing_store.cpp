#include <heroshhi/storage/errors.hpp>
#include <heroshhi/testing/failing_store.hpp>

#include <exception>
#include <memory>
#include <vector>

namespace heroshhi::testing {
namespace {

using storage::StorageErrc;

const Error& injected() {
    static const Error e(StorageErrc::unavailable, "failure injected by FailingStore");
    return e;
}

// An asynchronous write while failing: taken, and its completion told at once; what the
// completion throws is dropped, as a store's committer drops it.
template <class Done>
bool fail_async(Done& done) {
    Done callback = std::move(done);
    try {
        callback(injected());
    } catch (...) {
    }
    return true;
}

#define HEROSHHI_GUARD_CALL(...) \
    if (!owner_.admit()) return injected(); \
    return __VA_ARGS__

class Contacts final : public storage::ContactStore {
public:
    Contacts(FailingStore& owner, storage::ContactStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> put(const storage::Contact& c) override { HEROSHHI_GUARD_CALL(inner_.put(c)); }
    Result<std::optional<storage::Contact>> get(const TenantId& t, const ContactId& id) const override {
        HEROSHHI_GUARD_CALL(inner_.get(t, id));
    }
    Result<std::optional<storage::Contact>> find_by_phone(const TenantId& t, const PhoneNumber& p) const override {
        HEROSHHI_GUARD_CALL(inner_.find_by_phone(t, p));
    }
    Result<std::vector<storage::Contact>> list(const TenantId& t, const storage::Page& p) const override {
        HEROSHHI_GUARD_CALL(inner_.list(t, p));
    }
    Result<std::vector<storage::Contact>> list_held(const TenantId& t, const storage::Page& p) const override {
        HEROSHHI_GUARD_CALL(inner_.list_held(t, p));
    }
    Result<bool> soft_delete(const TenantId& t, const ContactId& id, Timestamp at) override {
        HEROSHHI_GUARD_CALL(inner_.soft_delete(t, id, at));
    }
    Result<bool> hard_delete(const TenantId& t, const ContactId& id) override { HEROSHHI_GUARD_CALL(inner_.hard_delete(t, id)); }

private:
    FailingStore& owner_;
    storage::ContactStore& inner_;
};

class Messages final : public storage::MessageStore {
public:
    Messages(FailingStore& owner, storage::MessageStore& inner) : owner_(owner), inner_(inner) {}
    Result<bool> append(const storage::MessageRecord& m) override { HEROSHHI_GUARD_CALL(inner_.append(m)); }
    Result<bool> update_status(const TenantId& t, const MessageId& id, storage::MessageStatus s, Timestamp at) override {
        HEROSHHI_GUARD_CALL(inner_.update_status(t, id, s, at));
    }
    Result<bool> record_sent(const TenantId& t, const MessageId& id, std::string_view provider_id, Timestamp at) override {
        HEROSHHI_GUARD_CALL(inner_.record_sent(t, id, provider_id, at));
    }
    Result<std::optional<MessageId>> update_status_by_provider_id(const TenantId& t, std::string_view provider_id,
                                                                storage::MessageStatus s, Timestamp at) override {
        HEROSHHI_GUARD_CALL(inner_.update_status_by_provider_id(t, provider_id, s, at));
    }
    Result<std::vector<storage::MessageRecord>> list_for_contact(const TenantId& t, const ContactId& c,
                                                                std::size_t limit) const override {
        HEROSHHI_GUARD_CALL(inner_.list_for_contact(t, c, limit));
    }
    Result<void> scan_for_contact(const TenantId& t, const ContactId& c,
                                  const std::function<void(const storage::MessageRecord&)>& v) const override {
        HEROSHHI_GUARD_CALL(inner_.scan_for_contact(t, c, v));
    }

private:
    FailingStore& owner_;
    storage::MessageStore& inner_;
};

class OptOuts final : public storage::OptOutStore {
public:
    OptOuts(FailingStore& owner, storage::OptOutStore& inner) : owner_(owner), inner_(inner) {}
    Result<bool> append(optout::OptOutEvent& e) override { HEROSHHI_GUARD_CALL(inner_.append(e)); }
    /// As Activity::record_inbound_async: forwarded while admitted; when failing, taken and failed at once.
    bool append_async(const optout::OptOutEvent& e, AppendDone&& done) override {
        if (owner_.admit()) return inner_.append_async(e, std::move(done));
        return fail_async(done);
    }
    Result<std::vector<optout::OptOutEvent>> history(const TenantId& t, const PhoneNumber& p) const override {
        HEROSHHI_GUARD_CALL(inner_.history(t, p));
    }
    Result<void> scan(const TenantId& t, const std::function<void(const optout::OptOutEvent&)>& v) const override {
        HEROSHHI_GUARD_CALL(inner_.scan(t, v));
    }
    Result<std::size_t> erase_number(const TenantId& t, const PhoneNumber& p, const optout::NumberTag& tag) override {
        HEROSHHI_GUARD_CALL(inner_.erase_number(t, p, tag));
    }
    Result<void> scan_erased(const TenantId& t,
                             const std::function<void(const optout::ErasedOptOutEvent&)>& v) const override {
        HEROSHHI_GUARD_CALL(inner_.scan_erased(t, v));
    }
    Result<void> scan_since(const TenantId& t, std::int64_t after,
                            const std::function<void(const optout::OptOutEvent&)>& v,
                            const std::function<void(const optout::ErasedOptOutEvent&)>& ve) const override {
        HEROSHHI_GUARD_CALL(inner_.scan_since(t, after, v, ve));
    }

private:
    FailingStore& owner_;
    storage::OptOutStore& inner_;
};

class Consents final : public storage::ConsentStore {
public:
    Consents(FailingStore& owner, storage::ConsentStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> append(const storage::ConsentRecord& r) override { HEROSHHI_GUARD_CALL(inner_.append(r)); }
    Result<std::optional<storage::ConsentRecord>> latest(const TenantId& t, const PhoneNumber& p,
                                                         storage::Purpose purpose) const override {
        HEROSHHI_GUARD_CALL(inner_.latest(t, p, purpose));
    }
    Result<void> scan(const TenantId& t, const std::function<void(const storage::ConsentRecord&)>& v) const override {
        HEROSHHI_GUARD_CALL(inner_.scan(t, v));
    }
    Result<std::vector<storage::ConsentRecord>> records(const TenantId& t, const PhoneNumber& p) const override {
        HEROSHHI_GUARD_CALL(inner_.records(t, p));
    }
    Result<std::size_t> erase_number(const TenantId& t, const PhoneNumber& p) override {
        HEROSHHI_GUARD_CALL(inner_.erase_number(t, p));
    }

private:
    FailingStore& owner_;
    storage::ConsentStore& inner_;
};

class Activity final : public storage::ActivityStore {
public:
    Activity(FailingStore& owner, storage::ActivityStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> record_inbound(const TenantId& t, const PhoneNumber& p, Timestamp at) override {
        HEROSHHI_GUARD_CALL(inner_.record_inbound(t, p, at));
    }
    /// Forwarded while admitted (counted as one call); when failing, the write is taken and
    /// `done` called at once with the injected failure, so a host sees the asynchronous path fail.
    bool record_inbound_async(const TenantId& t, const PhoneNumber& p, Timestamp at, WriteDone&& done) override {
        if (owner_.admit()) return inner_.record_inbound_async(t, p, at, std::move(done));
        return fail_async(done);
    }
    Result<std::optional<Timestamp>> last_inbound(const TenantId& t, const PhoneNumber& p) const override {
        HEROSHHI_GUARD_CALL(inner_.last_inbound(t, p));
    }
    Result<void> scan(const TenantId& t, const std::function<void(const PhoneNumber&, Timestamp)>& v) const override {
        HEROSHHI_GUARD_CALL(inner_.scan(t, v));
    }
    Result<bool> forget(const TenantId& t, const PhoneNumber& p) override { HEROSHHI_GUARD_CALL(inner_.forget(t, p)); }

private:
    FailingStore& owner_;
    storage::ActivityStore& inner_;
};

class Dedup final : public storage::DedupStore {
public:
    Dedup(FailingStore& owner, storage::DedupStore& inner) : owner_(owner), inner_(inner) {}
    Result<bool> remember(const TenantId& t, std::string_view key, Timestamp at) override {
        HEROSHHI_GUARD_CALL(inner_.remember(t, key, at));
    }

private:
    FailingStore& owner_;
    storage::DedupStore& inner_;
};

class Audit final : public storage::AuditStore {
public:
    Audit(FailingStore& owner, storage::AuditStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> append(const TenantId& t, std::span<const audit::Entry> entries,
                        const audit::ChainHead& expected) override {
        HEROSHHI_GUARD_CALL(inner_.append(t, entries, expected));
    }
    Result<audit::ChainState> chain(const TenantId& t) const override { HEROSHHI_GUARD_CALL(inner_.chain(t)); }
    Result<std::vector<audit::Entry>> query(const audit::Query& q) const override { HEROSHHI_GUARD_CALL(inner_.query(q)); }
    Result<std::size_t> scan(const TenantId& t, std::int64_t after, std::size_t limit,
                             const std::function<bool(const audit::EntryView&)>& visit) const override {
        HEROSHHI_GUARD_CALL(inner_.scan(t, after, limit, visit));
    }
    Result<std::int64_t> purge_through(const TenantId& t, std::int64_t through) override {
        HEROSHHI_GUARD_CALL(inner_.purge_through(t, through));
    }

private:
    FailingStore& owner_;
    storage::AuditStore& inner_;
};

class Accounts final : public storage::AccountStore {
public:
    Accounts(FailingStore& owner, storage::AccountStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> put(const storage::Account& a) override { HEROSHHI_GUARD_CALL(inner_.put(a)); }
    Result<std::optional<storage::Account>> get(const TenantId& t) const override { HEROSHHI_GUARD_CALL(inner_.get(t)); }
    Result<std::vector<storage::Account>> list(const storage::Page& p) const override { HEROSHHI_GUARD_CALL(inner_.list(p)); }

private:
    FailingStore& owner_;
    storage::AccountStore& inner_;
};

class Journal final : public retention::SweepJournal {
public:
    Journal(FailingStore& owner, retention::SweepJournal& inner) : owner_(owner), inner_(inner) {}
    Result<std::optional<std::string>> load(std::string_view sweeper) const override {
        HEROSHHI_GUARD_CALL(inner_.load(sweeper));
    }
    Result<void> save(std::string_view sweeper, std::string_view state) override {
        HEROSHHI_GUARD_CALL(inner_.save(sweeper, state));
    }
    Result<void> clear(std::string_view sweeper) override { HEROSHHI_GUARD_CALL(inner_.clear(sweeper)); }

private:
    FailingStore& owner_;
    retention::SweepJournal& inner_;
};

class Aggregates final : public retention::AggregateStore {
public:
    Aggregates(FailingStore& owner, retention::AggregateStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> add(std::span<const retention::DailyAggregate> counts) override { HEROSHHI_GUARD_CALL(inner_.add(counts)); }
    Result<std::vector<retention::DailyAggregate>> list(const TenantId& t, std::chrono::sys_days from,
                                                        std::chrono::sys_days until) const override {
        HEROSHHI_GUARD_CALL(inner_.list(t, from, until));
    }

private:
    FailingStore& owner_;
    retention::AggregateStore& inner_;
};

class Requests final : public storage::RequestStore {
public:
    Requests(FailingStore& owner, storage::RequestStore& inner) : owner_(owner), inner_(inner) {}
    Result<void> put(const privacy::SubjectRequest& r) override { HEROSHHI_GUARD_CALL(inner_.put(r)); }
    Result<std::optional<privacy::SubjectRequest>> get(const TenantId& t, std::string_view id) const override {
        HEROSHHI_GUARD_CALL(inner_.get(t, id));
    }
    Result<std::vector<privacy::SubjectRequest>> list(const TenantId& t, const storage::Page& p,
                                                      bool open_only) const override {
        HEROSHHI_GUARD_CALL(inner_.list(t, p, open_only));
    }

private:
    FailingStore& owner_;
    storage::RequestStore& inner_;
};

class Target final : public retention::Target {
public:
    Target(FailingStore& owner, retention::Target& inner) : owner_(owner), inner_(inner) {}
    std::string_view name() const noexcept override { return inner_.name(); }
    Result<retention::CandidatePage> candidates(const TenantId& t, retention::Selection s, Timestamp cutoff,
                                                std::string_view after, std::size_t limit) const override {
        HEROSHHI_GUARD_CALL(inner_.candidates(t, s, cutoff, after, limit));
    }
    Result<std::int64_t> count(const TenantId& t, retention::Selection s, Timestamp cutoff) const override {
        HEROSHHI_GUARD_CALL(inner_.count(t, s, cutoff));
    }
    Result<retention::Change> soft_delete(const retention::Batch& b) override { HEROSHHI_GUARD_CALL(inner_.soft_delete(b)); }
    Result<retention::Change> hard_delete(const retention::Batch& b) override { HEROSHHI_GUARD_CALL(inner_.hard_delete(b)); }

private:
    FailingStore& owner_;
    retention::Target& inner_;
};

#undef HEROSHHI_GUARD_CALL

}  // namespace

class FailingStore::RetentionWrappers final : public retention::RetentionStores {
public:
    RetentionWrappers(FailingStore& owner, retention::RetentionStores& inner)
        : owner_(owner),
          has_store_set_(inner.store_set() != nullptr),
          accounts_(owner, inner.accounts()), journal_(owner, inner.journal()), aggregates_(owner, inner.aggregates()) {
        for (const retention::TargetBinding& b : inner.targets()) {
            targets_.push_back(std::make_unique<Target>(owner, *b.target));
            bindings_.push_back({targets_.back().get(), b.category});
        }
    }
    storage::AccountStore& accounts() override { return accounts_; }
    retention::SweepJournal& journal() override { return journal_; }
    retention::AggregateStore& aggregates() override { return aggregates_; }
    std::vector<retention::TargetBinding> targets() override { return bindings_; }
    /// The FailingStore itself, so the sweeper's opt-out step fails with the same count.
    storage::StoreSet* store_set() noexcept override { return has_store_set_ ? &owner_ : nullptr; }

private:
    FailingStore& owner_;
    bool has_store_set_;
    Accounts accounts_;
    Journal journal_;
    Aggregates aggregates_;
    std::vector<std::unique_ptr<Target>> targets_;
    std::vector<retention::TargetBinding> bindings_;
};

struct FailingStore::Wrappers {
    Contacts contacts;
    Messages messages;
    OptOuts optouts;
    Consents consents;
    Activity activity;
    Dedup dedup;
    Audit audit;
    Requests requests;
};

FailingStore::FailingStore(storage::StoreSet& inner, long calls_before_failure)
    : remaining_(calls_before_failure),
      wrappers_(new Wrappers{{*this, inner.contacts()}, {*this, inner.messages()}, {*this, inner.optouts()},
                             {*this, inner.consents()}, {*this, inner.activity()}, {*this, inner.dedup()},
                             {*this, inner.audit()}, {*this, inner.requests()}}),
      inner_(inner) {}

FailingStore::FailingStore(storage::StoreSet& inner, retention::RetentionStores& retention, long calls_before_failure)
    : FailingStore(inner, calls_before_failure) {
    retention_ = std::make_unique<RetentionWrappers>(*this, retention);
}

FailingStore::~FailingStore() = default;

retention::RetentionStores& FailingStore::retention() {
    if (!retention_) std::terminate();
    return *retention_;
}

bool FailingStore::admit() noexcept {
    long r = remaining_.load();
    while (true) {
        if (r < 0) return true;
        if (r == 0) {
            refused_.fetch_add(1);
            return false;
        }
        if (remaining_.compare_exchange_weak(r, r - 1)) return true;
    }
}

storage::ContactStore& FailingStore::contacts() { return wrappers_->contacts; }
storage::MessageStore& FailingStore::messages() { return wrappers_->messages; }
storage::OptOutStore& FailingStore::optouts() { return wrappers_->optouts; }
storage::ConsentStore& FailingStore::consents() { return wrappers_->consents; }
storage::ActivityStore& FailingStore::activity() { return wrappers_->activity; }
storage::DedupStore& FailingStore::dedup() { return wrappers_->dedup; }
storage::AuditStore& FailingStore::audit() { return wrappers_->audit; }
storage::RequestStore& FailingStore::requests() { return wrappers_->requests; }

storage::AccountStore* FailingStore::accounts() noexcept {
    return retention_ ? &retention_->accounts() : inner_.accounts();
}

Result<void> FailingStore::scrub() {
    if (!admit()) return injected();
    return inner_.scrub();
}

}  // namespace heroshhi::testing
