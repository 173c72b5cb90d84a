#include <heroshhi/privacy/request_register.hpp>

#include <heroshhi/audit/entry.hpp>
#include <heroshhi/privacy/errors.hpp>

#include <openssl/rand.h>

#include <new>
#include <utility>

namespace heroshhi::privacy {
namespace {

/// "dsr-" and 16 random hex digits.
std::string random_id() {
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::bad_alloc();  // the CSPRNG fails only without memory or seed
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "dsr-";
    for (const unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0xF];
    }
    return out;
}

Error closed(const SubjectRequest& r) {
    return Error(PrivacyErrc::invalid_request, "request '" + r.id + "' is " + std::string(to_string(r.status)));
}

}  // namespace

Result<std::string> RequestRegister::team_of(const TenantId& tenant, std::string_view subject) {
    constexpr std::string_view contact_prefix = "contact:";
    if (contacts_ == nullptr || !subject.starts_with(contact_prefix)) return std::string{};
    auto found = contacts_->get(tenant, ContactId{std::string(subject.substr(contact_prefix.size()))});
    if (!found) return found.error();  // fail closed: no decision without the contact's team
    return *found ? (*found)->team : std::string{};
}

Result<rbac::AccessDecision> RequestRegister::authorize(const rbac::Principal& by, const TenantId& tenant,
                                                        rbac::Action action, std::string_view id, std::string team,
                                                        std::string audit_action, std::string_view request_id) {
    rbac::Resource resource{rbac::ResourceType::data_subject_request, tenant, std::string(id)};
    resource.team = std::move(team);
    rbac::AccessDecision access = engine_.authorizer().check(by, action, resource);
    audit::Entry e;
    e.tenant = tenant.empty() ? by.tenant : tenant;
    e.actor = audit::Actor::member(by.user, by.role);
    e.action = std::move(audit_action);
    e.target_type = std::string(rbac::to_string(resource.type));
    e.target_id = resource.id;
    e.outcome = access.reason();
    e.rule = access.rule();
    e.request_id = request_id;
    e.policy_revision = access.revision();
    if (auto stored = engine_.audit().append(std::move(e)); !stored) return stored.error();
    return access;
}

Result<Attempt<SubjectRequest>> RequestRegister::open(const rbac::Principal& by, const TenantId& tenant,
                                                      RequestType type, std::string subject,
                                                      std::optional<Timestamp> received_at, std::string id,
                                                      std::string_view request_id) {
    if (!valid_subject(subject))
        return Error(PrivacyErrc::invalid_request,
                     "a request's subject is \"contact:<id>\" or a phone pseudonym, never a plain number");
    if (id.empty()) id = random_id();
    auto team = team_of(tenant, subject);
    if (!team) return team.error();
    auto access = authorize(by, tenant, rbac::Action::create, id, std::move(team).value(), "privacy.request.open",
                            request_id);
    if (!access) return access.error();
    if (!access->allowed()) return Attempt<SubjectRequest>{std::move(access).value(), std::nullopt};
    auto existing = store_.get(tenant, id);
    if (!existing) return existing.error();
    if (*existing) return Error(PrivacyErrc::invalid_request, "a request '" + id + "' is already in the register");
    SubjectRequest r;
    r.tenant = tenant;
    r.id = std::move(id);
    r.type = type;
    r.subject = std::move(subject);
    r.received_at = received_at.value_or(clock_.now());
    r.acknowledge_by = acknowledge_deadline(r.received_at);
    r.due_by = due_deadline(r.received_at, false);
    r.handled_by = by.user;
    if (auto stored = store_.put(r); !stored) return stored.error();
    return Attempt<SubjectRequest>{std::move(access).value(), std::move(r)};
}

Result<Attempt<SubjectRequest>> RequestRegister::move(const rbac::Principal& by, const TenantId& tenant,
                                                      std::string_view id, std::string audit_action,
                                                      std::string_view request_id,
                                                      const std::function<Result<void>(SubjectRequest&, Timestamp)>& step) {
    // The request first, for its subject's team; a missing one is reported only to whom may see it.
    auto found = store_.get(tenant, id);
    if (!found) return found.error();
    auto team = *found ? team_of(tenant, (*found)->subject) : Result<std::string>(std::string{});
    if (!team) return team.error();
    auto access = authorize(by, tenant, rbac::Action::update, id, std::move(team).value(), std::move(audit_action),
                            request_id);
    if (!access) return access.error();
    if (!access->allowed()) return Attempt<SubjectRequest>{std::move(access).value(), std::nullopt};
    if (!*found) return Error(PrivacyErrc::not_found, "no request '" + std::string(id) + "' in the register");
    SubjectRequest r = std::move(**found);
    if (!r.open()) return closed(r);
    if (auto ok = step(r, clock_.now()); !ok) return ok.error();
    r.handled_by = by.user;
    if (auto stored = store_.put(r); !stored) return stored.error();
    return Attempt<SubjectRequest>{std::move(access).value(), std::move(r)};
}

Result<Attempt<SubjectRequest>> RequestRegister::acknowledge(const rbac::Principal& by, const TenantId& tenant,
                                                             std::string_view id, std::string_view request_id) {
    return move(by, tenant, id, "privacy.request.acknowledge", request_id, [](SubjectRequest& r, Timestamp now) {
        if (r.status == RequestStatus::received) {
            r.status = RequestStatus::acknowledged;
            r.acknowledged_at = now;
        }
        return Result<void>{};
    });
}

Result<Attempt<SubjectRequest>> RequestRegister::extend(const rbac::Principal& by, const TenantId& tenant,
                                                        std::string_view id, std::string_view request_id) {
    return move(by, tenant, id, "privacy.request.extend", request_id, [](SubjectRequest& r, Timestamp now) {
        if (r.extended) return Result<void>(PrivacyErrc::invalid_request, "request '" + r.id + "' was extended already");
        if (now > r.due_by)
            return Result<void>(PrivacyErrc::invalid_request,
                                "request '" + r.id + "' is past its one-month deadline: it can no longer be extended");
        r.extended = true;
        r.due_by = due_deadline(r.received_at, true);
        return Result<void>{};
    });
}

Result<Attempt<SubjectRequest>> RequestRegister::close(const rbac::Principal& by, const TenantId& tenant,
                                                       std::string_view id, RequestStatus outcome,
                                                       std::string_view request_id) {
    if (outcome != RequestStatus::completed && outcome != RequestStatus::refused)
        return Error(PrivacyErrc::invalid_request, "a request is closed as completed or refused");
    const std::string action = outcome == RequestStatus::completed ? "privacy.request.complete" : "privacy.request.refuse";
    return move(by, tenant, id, action, request_id, [outcome](SubjectRequest& r, Timestamp now) {
        r.status = outcome;
        r.closed_at = now;
        return Result<void>{};
    });
}

Result<Attempt<SubjectRequest>> RequestRegister::get(const rbac::Principal& by, const TenantId& tenant,
                                                     std::string_view id, std::string_view request_id) {
    auto found = store_.get(tenant, id);
    if (!found) return found.error();
    auto team = *found ? team_of(tenant, (*found)->subject) : Result<std::string>(std::string{});
    if (!team) return team.error();
    auto access = authorize(by, tenant, rbac::Action::read, id, std::move(team).value(), "privacy.request.read",
                            request_id);
    if (!access) return access.error();
    if (!access->allowed()) return Attempt<SubjectRequest>{std::move(access).value(), std::nullopt};
    if (!*found) return Error(PrivacyErrc::not_found, "no request '" + std::string(id) + "' in the register");
    return Attempt<SubjectRequest>{std::move(access).value(), std::move(**found)};
}

Result<Attempt<std::vector<SubjectRequest>>> RequestRegister::list(const rbac::Principal& by, const TenantId& tenant,
                                                                   const storage::Page& page,
                                                                   std::string_view request_id) {
    auto access = authorize(by, tenant, rbac::Action::read, {}, {}, "privacy.request.list", request_id);
    if (!access) return access.error();
    if (!access->allowed()) return Attempt<std::vector<SubjectRequest>>{std::move(access).value(), std::nullopt};
    auto listed = store_.list(tenant, page, false);
    if (!listed) return listed.error();
    return Attempt<std::vector<SubjectRequest>>{std::move(access).value(), std::move(listed).value()};
}

Result<Attempt<std::vector<OverdueRequest>>> RequestRegister::overdue(const rbac::Principal& by, const TenantId& tenant,
                                                                      std::string_view request_id) {
    auto access = authorize(by, tenant, rbac::Action::read, {}, {}, "privacy.request.overdue", request_id);
    if (!access) return access.error();
    if (!access->allowed()) return Attempt<std::vector<OverdueRequest>>{std::move(access).value(), std::nullopt};
    const Timestamp now = clock_.now();
    std::vector<OverdueRequest> out;
    storage::Page page{"", 500};
    for (;;) {
        auto batch = store_.list(tenant, page, true);
        if (!batch) return batch.error();
        const bool more = batch->size() == page.limit;
        if (more) page.after = batch->back().id;
        for (SubjectRequest& r : *batch)
            if (const Lateness late = lateness(r, now); late != Lateness::on_time) out.push_back({std::move(r), late});
        if (!more) break;
    }
    return Attempt<std::vector<OverdueRequest>>{std::move(access).value(), std::move(out)};
}

}  // namespace heroshhi::privacy
