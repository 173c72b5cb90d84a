// heroshhi — MemoryStore: every storage port, in memory. For tests, examples and hosts that
// persist elsewhere. Nothing survives the process.
#pragma once

#include <memory>

#include <heroshhi/retention/stores.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::storage {

/// Thread-safe (one mutex); never fails except on invalid arguments.
class MemoryStore final : public StoreSet,
                          private ContactStore,
                          private MessageStore,
                          private OptOutStore,
                          private ConsentStore,
                          private ActivityStore,
                          private DedupStore,
                          private AuditStore,
                          private RequestStore {
public:
    MemoryStore();
    ~MemoryStore() override;
    MemoryStore(const MemoryStore&) = delete;
    MemoryStore& operator=(const MemoryStore&) = delete;

    ContactStore& contacts() override { return *this; }
    MessageStore& messages() override { return *this; }
    OptOutStore& optouts() override { return *this; }
    ConsentStore& consents() override { return *this; }
    ActivityStore& activity() override { return *this; }
    DedupStore& dedup() override { return *this; }
    AuditStore& audit() override { return *this; }
    RequestStore& requests() override { return *this; }
    /// retention().accounts().
    AccountStore* accounts() noexcept override;

    /// The retention ports over the same data: accounts, sweep journal, analytics aggregates and
    /// the targets over contacts, messages, consent records, inbound activity and webhook keys.
    retention::RetentionStores& retention() noexcept;

private:
    // ContactStore
    Result<void> put(const Contact& contact) override;
    Result<std::optional<Contact>> get(const TenantId& tenant, const ContactId& id) const override;
    Result<std::optional<Contact>> find_by_phone(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<std::vector<Contact>> list(const TenantId& tenant, const Page& page) const override;
    Result<std::vector<Contact>> list_held(const TenantId& tenant, const Page& page) const override;
    Result<bool> soft_delete(const TenantId& tenant, const ContactId& id, Timestamp at) override;
    Result<bool> hard_delete(const TenantId& tenant, const ContactId& id) override;
    // MessageStore
    Result<bool> append(const MessageRecord& message) override;
    Result<bool> update_status(const TenantId& tenant, const MessageId& id, MessageStatus status, Timestamp at) override;
    Result<bool> record_sent(const TenantId& tenant, const MessageId& id, std::string_view provider_message_id,
                             Timestamp at) override;
    Result<std::optional<MessageId>> update_status_by_provider_id(const TenantId& tenant,
                                                                std::string_view provider_message_id,
                                                                MessageStatus status, Timestamp at) override;
    Result<std::vector<MessageRecord>> list_for_contact(const TenantId& tenant, const ContactId& contact,
                                                       std::size_t limit) const override;
    Result<void> scan_for_contact(const TenantId& tenant, const ContactId& contact,
                                  const std::function<void(const MessageRecord&)>& visit) const override;
    // OptOutStore
    Result<bool> append(optout::OptOutEvent& event) override;
    Result<std::vector<optout::OptOutEvent>> history(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<void> scan(const TenantId& tenant, const std::function<void(const optout::OptOutEvent&)>& visit) const override;
    Result<std::size_t> erase_number(const TenantId& tenant, const PhoneNumber& phone,
                                     const optout::NumberTag& tag) override;
    Result<void> scan_erased(const TenantId& tenant,
                             const std::function<void(const optout::ErasedOptOutEvent&)>& visit) const override;
    Result<void> scan_since(const TenantId& tenant, std::int64_t after_sequence,
                            const std::function<void(const optout::OptOutEvent&)>& visit,
                            const std::function<void(const optout::ErasedOptOutEvent&)>& visit_erased) const override;
    // ConsentStore
    Result<void> append(const ConsentRecord& record) override;
    Result<std::optional<ConsentRecord>> latest(const TenantId& tenant, const PhoneNumber& phone,
                                                Purpose purpose) const override;
    Result<void> scan(const TenantId& tenant, const std::function<void(const ConsentRecord&)>& visit) const override;
    Result<std::vector<ConsentRecord>> records(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<std::size_t> erase_number(const TenantId& tenant, const PhoneNumber& phone) override;
    // ActivityStore
    Result<void> record_inbound(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) override;
    /// Nothing here waits for I/O: runs record_inbound and calls `done` before returning true.
    bool record_inbound_async(const TenantId& tenant, const PhoneNumber& phone, Timestamp at,
                              WriteDone&& done) override;
    Result<std::optional<Timestamp>> last_inbound(const TenantId& tenant, const PhoneNumber& phone) const override;
    Result<void> scan(const TenantId& tenant,
                      const std::function<void(const PhoneNumber&, Timestamp)>& visit) const override;
    Result<bool> forget(const TenantId& tenant, const PhoneNumber& phone) override;
    // DedupStore
    Result<bool> remember(const TenantId& tenant, std::string_view key, Timestamp at) override;
    // AuditStore
    Result<void> append(const TenantId& tenant, std::span<const audit::Entry> entries,
                        const audit::ChainHead& expected) override;
    Result<audit::ChainState> chain(const TenantId& tenant) const override;
    Result<std::vector<audit::Entry>> query(const audit::Query& query) const override;
    Result<std::size_t> scan(const TenantId& tenant, std::int64_t after_sequence, std::size_t limit,
                             const std::function<bool(const audit::EntryView&)>& visit) const override;
    Result<std::int64_t> purge_through(const TenantId& tenant, std::int64_t through) override;
    // RequestStore
    Result<void> put(const privacy::SubjectRequest& request) override;
    Result<std::optional<privacy::SubjectRequest>> get(const TenantId& tenant, std::string_view id) const override;
    Result<std::vector<privacy::SubjectRequest>> list(const TenantId& tenant, const Page& page,
                                                      bool open_only) const override;

    struct State;
    std::unique_ptr<State> state_;
    class Retention;
    std::unique_ptr<Retention> retention_;
};

}  // namespace heroshhi::storage
