// heroshhi — privacy::RequestRegister: the log of data-subject requests, with the deadlines the
// policy ("response within 2 business days") and the GDPR (one month, extendable by two) set.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/privacy/request.hpp>
#include <heroshhi/rbac/principal.hpp>
#include <heroshhi/storage/records.hpp>
#include <heroshhi/storage/request_store.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::privacy {

/// An overdue request and which deadline it missed.
struct OverdueRequest {
    SubjectRequest request;
    Lateness late = Lateness::on_time;
};

/// Logs requests and moves them on. Every operation is authorized on the data_subject_request
/// resource (owners and admins by default: create to log, update to move on, read to look; managers
/// for the requests of their team's contacts, see below) and audited ("privacy.request.<operation>", the request's id as target), denials included; it acts
/// only on an allowing decision. A subject is named by contact id or by the pseudonym of a number
/// (subject_of / pseudonym_subject), never by a plain number. Thread-safe if the store is; blocks on
/// it. Borrows the engine, the store(s) and the clock.
///
/// Built on a StoreSet, the register gives a request about "contact:<id>" the team that contact
/// belongs to now (looked up at each call), so the matrix rule manager.team_requests lets a manager
/// handle the requests of their team's contacts and no others. A request about a pseudonym, about
/// a contact no longer stored, or a register built on the RequestStore alone carries no team:
/// owners and admins only. Listing the register is owners' and admins' too.
class RequestRegister {
public:
    RequestRegister(Engine& engine, storage::StoreSet& stores, const Clock& clock)
        : engine_(engine), store_(stores.requests()), contacts_(&stores.contacts()), clock_(clock) {}
    /// Without the contact store: no request carries a team (see above).
    RequestRegister(Engine& engine, storage::RequestStore& store, const Clock& clock)
        : engine_(engine), store_(store), clock_(clock) {}

    /// The subject string of a number that has no contact: its audit pseudonym.
    std::string pseudonym_subject(const PhoneNumber& phone) const { return engine_.pseudonym(phone); }

    /// Logs a request received at `received_at` (now if absent), with its deadlines. `id` is the
    /// host's ticket id; empty: a random one ("dsr-" and 16 hex digits). Fails with
    /// PrivacyErrc::invalid_request for a subject that is not "contact:<id>" or a pseudonym, or an
    /// id already used.
    Result<Attempt<SubjectRequest>> open(const rbac::Principal& by, const TenantId& tenant, RequestType type,
                                         std::string subject, std::optional<Timestamp> received_at = std::nullopt,
                                         std::string id = {}, std::string_view request_id = {});

    /// The subject was told the request is being handled (status acknowledged).
    Result<Attempt<SubjectRequest>> acknowledge(const rbac::Principal& by, const TenantId& tenant, std::string_view id,
                                                std::string_view request_id = {});

    /// Takes the two-month extension (due three months after receipt). Only once, and only before
    /// the first deadline passed (the subject must be told within the first month):
    /// PrivacyErrc::invalid_request otherwise.
    Result<Attempt<SubjectRequest>> extend(const rbac::Principal& by, const TenantId& tenant, std::string_view id,
                                           std::string_view request_id = {});

    /// Closes the request as completed or refused (any other status: invalid_request).
    Result<Attempt<SubjectRequest>> close(const rbac::Principal& by, const TenantId& tenant, std::string_view id,
                                          RequestStatus outcome, std::string_view request_id = {});

    Result<Attempt<SubjectRequest>> get(const rbac::Principal& by, const TenantId& tenant, std::string_view id,
                                        std::string_view request_id = {});

    /// One page of the register, by id (storage::Page), every status.
    Result<Attempt<std::vector<SubjectRequest>>> list(const rbac::Principal& by, const TenantId& tenant,
                                                      const storage::Page& page, std::string_view request_id = {});

    /// Every open request past a deadline now: unacknowledged after 2 business days, or not closed
    /// by its due date. Reads the open requests page by page.
    Result<Attempt<std::vector<OverdueRequest>>> overdue(const rbac::Principal& by, const TenantId& tenant,
                                                         std::string_view request_id = {});

private:
    Result<rbac::AccessDecision> authorize(const rbac::Principal& by, const TenantId& tenant, rbac::Action action,
                                           std::string_view id, std::string team, std::string audit_action,
                                           std::string_view request_id);
    /// The team of the contact `subject` names ("contact:<id>"); empty for a pseudonym, a contact
    /// not stored, or without a contact store.
    Result<std::string> team_of(const TenantId& tenant, std::string_view subject);
    Result<Attempt<SubjectRequest>> move(const rbac::Principal& by, const TenantId& tenant, std::string_view id,
                                         std::string audit_action, std::string_view request_id,
                                         const std::function<Result<void>(SubjectRequest&, Timestamp now)>& step);

    Engine& engine_;
    storage::RequestStore& store_;
    storage::ContactStore* contacts_ = nullptr;
    const Clock& clock_;
};

}  // namespace heroshhi::privacy
