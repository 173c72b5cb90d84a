// heroshhi — PostgresStore's retention ports.
//
// ===== TO BE WRITTEN (h-ret) =====================================================================
// This file is the place for the PostgreSQL retention stores: accounts, the sweep journal, the
// analytics aggregates and the targets over contacts, messages, consent records, inbound activity
// and webhook keys (see src/storage/sqlite_retention.cpp for the same over SQLite). Their tables
// are a new step appended to pg::migrations() (src/storage/postgres/pg_schema.cpp), with
// PostgresStore::schema_version raised to match. Until then every port fails closed with
// `unavailable`, and targets() is empty.
// ==================================================================================================
#include "pg_retention.hpp"

#include <heroshhi/storage/errors.hpp>

namespace heroshhi::storage::detail {
namespace {

Error not_built() {
    return Error(StorageErrc::unavailable, "the PostgreSQL store's retention ports are not built yet");
}

class PgRetention final : public retention::RetentionStores,
                          public AccountStore,
                          public retention::SweepJournal,
                          public retention::AggregateStore {
public:
    explicit PgRetention(PgHandle handle) : handle_(handle) {}

    AccountStore& accounts() override { return *this; }
    retention::SweepJournal& journal() override { return *this; }
    retention::AggregateStore& aggregates() override { return *this; }
    std::vector<retention::TargetBinding> targets() override { return {}; }

    // AccountStore
    Result<void> put(const Account&) override { return not_built(); }
    Result<std::optional<Account>> get(const TenantId&) const override { return not_built(); }
    Result<std::vector<Account>> list(const Page&) const override { return not_built(); }
    // SweepJournal
    Result<std::optional<std::string>> load(std::string_view) const override { return not_built(); }
    Result<void> save(std::string_view, std::string_view) override { return not_built(); }
    Result<void> clear(std::string_view) override { return not_built(); }
    // AggregateStore
    Result<void> add(std::span<const retention::DailyAggregate>) override { return not_built(); }
    Result<std::vector<retention::DailyAggregate>> list(const TenantId&, std::chrono::sys_days,
                                                        std::chrono::sys_days) const override {
        return not_built();
    }

private:
    [[maybe_unused]] PgHandle handle_;
};

}  // namespace

std::unique_ptr<retention::RetentionStores> make_pg_retention(PgHandle handle) {
    return std::make_unique<PgRetention>(handle);
}

}  // namespace heroshhi::storage::detail
