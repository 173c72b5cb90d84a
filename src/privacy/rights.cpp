#include <heroshhi/privacy/rights.hpp>

#include "detail/export_writer.hpp"

#include <heroshhi/audit/entry.hpp>
#include <heroshhi/audit/query.hpp>
#include <heroshhi/privacy/errors.hpp>
#include <heroshhi/privacy/lawful_basis.hpp>
#include <heroshhi/retention/policy.hpp>
#include <heroshhi/sanitize/csv.hpp>
#include <heroshhi/sanitize/email_address.hpp>
#include <heroshhi/storage/errors.hpp>

#include <algorithm>
#include <set>
#include <ostream>
#include <utility>

namespace heroshhi::privacy {
namespace {

using detail::Field;
using detail::Value;
using rbac::Action;
using rbac::Resource;
using rbac::ResourceType;

Resource contact_resource(const storage::Contact& c) {
    Resource r{ResourceType::contact, c.tenant, c.id.value()};
    r.assignee = c.assignee;
    r.team = c.team;
    return r;
}

/// Appends the audit entry of `by`'s attempt on `resource` (in the trail of the resource's tenant).
Result<void> audit_attempt(Engine& engine, const rbac::Principal& by, const Resource& resource, std::string action,
                           Reason outcome, std::string_view rule, std::string_view revision,
                           std::string_view request_id) {
    audit::Entry e;
    e.tenant = resource.tenant.empty() ? by.tenant : resource.tenant;
    e.actor = audit::Actor::member(by.user, by.role);
    e.action = std::move(action);
    e.target_type = std::string(rbac::to_string(resource.type));
    e.target_id = resource.id;
    e.outcome = outcome;
    e.rule = rule;
    e.request_id = request_id;
    e.policy_revision = revision;
    auto stored = engine.audit().append(std::move(e));
    if (!stored) return stored.error();
    return {};
}

/// Authorize → audit: the decision, once it is in the trail.
Result<rbac::AccessDecision> authorize(Engine& engine, const rbac::Principal& by, Action action,
                                       const Resource& resource, std::string audit_action,
                                       std::string_view request_id) {
    rbac::AccessDecision access = engine.authorizer().check(by, action, resource);
    if (auto a = audit_attempt(engine, by, resource, std::move(audit_action), access.reason(), access.rule(),
                               access.revision(), request_id);
        !a)
        return a.error();
    return access;
}

/// A legal hold that keeps data as it is: on the contact itself, or on its whole tenant.
struct Hold {
    std::string_view rule;  ///< the audit entry's rule: "privacy.legal_hold" or "privacy.legal_hold.tenant"
    std::string reason;     ///< for the caller: what is held, and that lifting the hold is the way on
};

/// The hold on `tenant`, if any; `what` names the operation ("erased"). Fails closed: a store set
/// that keeps no accounts cannot rule a tenant hold out.
Result<std::optional<Hold>> tenant_hold(storage::StoreSet& stores, const TenantId& tenant, std::string_view what) {
    storage::AccountStore* accounts = stores.accounts();
    if (accounts == nullptr)
        return Error(storage::StorageErrc::unavailable,
                     "the store set keeps no accounts, so a legal hold on tenant '" + tenant.value() +
                         "' cannot be ruled out: nothing of it is " + std::string(what));
    auto account = accounts->get(tenant);
    if (!account) return account.error();
    if (!*account || !(*account)->legal_hold) return std::optional<Hold>{};
    return std::optional<Hold>{Hold{"privacy.legal_hold.tenant",
                                    "tenant '" + tenant.value() + "' is under a legal hold: its leads cannot be " +
                                        std::string(what) + " until the hold is lifted"}};
}

/// The hold on `c`: its own, else its tenant's.
Result<std::optional<Hold>> hold_on(storage::StoreSet& stores, const storage::Contact& c, std::string_view what) {
    if (c.legal_hold)
        return std::optional<Hold>{Hold{"privacy.legal_hold", "contact '" + c.id.value() +
                                                                  "' is under a legal hold: it cannot be " +
                                                                  std::string(what) + " until the hold is lifted"}};
    return tenant_hold(stores, c.tenant, what);
}

/// Authorize → (hold) → audit. When the decision allows and `held_what` names an operation a legal
/// hold blocks ("erased"), a hold on the resource wins: the attempt is audited with outcome
/// legal_hold under the hold's rule, and the caller gets PrivacyErrc::legal_hold with the reason.
/// `hold` finds the hold (hold_on or tenant_hold).
template <class FindHold>
Result<rbac::AccessDecision> authorize_unless_held(Engine& engine, const rbac::Principal& by, Action action,
                                                   const Resource& resource, std::string audit_action,
                                                   std::string_view request_id, bool hold_blocks,
                                                   const FindHold& hold) {
    rbac::AccessDecision access = engine.authorizer().check(by, action, resource);
    if (access.allowed() && hold_blocks) {
        auto held = hold();
        if (!held) return held.error();
        if (*held) {
            if (auto a = audit_attempt(engine, by, resource, std::move(audit_action), Reason::legal_hold, (*held)->rule,
                                       access.revision(), request_id);
                !a)
                return a.error();
            return Error(PrivacyErrc::legal_hold, std::move((*held)->reason));
        }
    }
    if (auto a = audit_attempt(engine, by, resource, std::move(audit_action), access.reason(), access.rule(),
                               access.revision(), request_id);
        !a)
        return a.error();
    return access;
}

/// A contact operation after its authorization: the decision, and the contact when it allows.
struct ContactAccess {
    rbac::AccessDecision access;
    std::optional<storage::Contact> contact;
};

Error no_such_contact(const TenantId& tenant, const ContactId& id) {
    return Error(PrivacyErrc::not_found, "no contact '" + id.value() + "' in tenant '" + tenant.value() + "'");
}

/// Finds the contact and authorizes `action` on it, auditing the decision. A principal of another
/// tenant is refused before anything is read. When there is no such contact, the decision is taken
/// on the bare id (no team, no assignee) and audited: whether a contact exists is itself something
/// to protect, so only a principal who may act on any of the tenant's contacts (owner, admin)
/// learns it (not_found); a manager or a sales user is refused as for a contact not theirs.
/// `held_what`: the operation a legal hold blocks ("rectified"), empty if none does.
Result<ContactAccess> open_contact(Engine& engine, storage::StoreSet& stores, const rbac::Principal& by,
                                   const TenantId& tenant, const ContactId& id, Action action,
                                   std::string audit_action, std::string_view request_id,
                                   std::string_view held_what = {}) {
    if (tenant.empty() || id.empty())
        return Error(PrivacyErrc::invalid_request, "a data-subject operation needs a tenant and a contact id");
    std::optional<storage::Contact> found;
    if (by.tenant == tenant) {
        auto read = stores.contacts().get(tenant, id);
        if (!read) return read.error();
        found = std::move(*read);
    }
    if (!found) {
        auto bare = authorize(engine, by, action, Resource{ResourceType::contact, tenant, id.value()},
                              std::move(audit_action), request_id);
        if (!bare) return bare.error();
        if (by.tenant == tenant && bare->allowed()) return no_such_contact(tenant, id);
        return ContactAccess{std::move(bare).value(), std::nullopt};
    }
    const storage::Contact& c = *found;
    auto access = authorize_unless_held(engine, by, action, contact_resource(c), std::move(audit_action), request_id,
                                        !held_what.empty(), [&] { return hold_on(stores, c, held_what); });
    if (!access) return access.error();
    ContactAccess out{std::move(access).value(), std::nullopt};
    if (out.access.allowed()) out.contact = std::move(*found);
    return out;
}

template <class T>
Attempt<T> denied(rbac::AccessDecision access) {
    return Attempt<T>{std::move(access), std::nullopt};
}

template <class T>
Attempt<T> done(rbac::AccessDecision access, T value) {
    return Attempt<T>{std::move(access), std::move(value)};
}

Sink stream_sink(std::ostream& out) {
    return [&out](std::string_view chunk) {
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        return static_cast<bool>(out);
    };
}

Value time_value(Timestamp t) { return Value::of(to_iso8601(t)); }
Value time_value(const std::optional<Timestamp>& t) { return t ? time_value(*t) : Value::none(); }
template <class Tag>
Value id_value(const std::optional<Id<Tag>>& id) {
    return id ? Value::of(id->value()) : Value::none();
}

Error write_failed() { return Error(PrivacyErrc::export_failed, "the export's output refused the data"); }

// ---- the access export, section by section ----

void write_contact(detail::ExportWriter& w, const storage::Contact& c) {
    w.section("contact", true);
    const Field fields[] = {
        {"id", Value::of(c.id.value())},
        {"name", Value::of(c.name)},
        {"phone", Value::of(c.phone.e164())},
        {"email", Value::of(c.email)},
        {"source", Value::of(c.source)},
        {"assignee", id_value(c.assignee)},
        {"team", Value::of(c.team)},
        {"created_at", time_value(c.created_at)},
        {"updated_at", time_value(c.updated_at)},
        {"deleted_at", time_value(c.deleted_at)},
        {"legal_hold", Value::flag(c.legal_hold)},
        {"restricted", Value::flag(c.restricted)},
        {"analytics_objection", Value::flag(c.analytics_objection)},
    };
    w.record(c.id.value(), fields);
    w.end_section();
}

void write_activities(detail::ExportWriter& w, const storage::Contact& c, bool marketing_objected) {
    w.section("processing_activities", false);
    for (const ProcessingActivity& a : lawful_basis_register()) {
        const bool objected = (a.activity == Activity::analytics && c.analytics_objection) ||
                              (a.activity == Activity::marketing && marketing_objected);
        const Field fields[] = {
            {"activity", Value::of(std::string(to_string(a.activity)))},
            {"name", Value::of(std::string(a.name))},
            {"purpose", Value::of(std::string(a.purpose))},
            {"legal_basis", Value::of(std::string(to_string(a.basis)))},
            {"retention", Value::of(std::string(a.retention))},
            {"objection_applies", Value::flag(a.objectable)},
            {"stops_on_consent_withdrawal", Value::flag(a.stops_on_withdrawal)},
            {"objected", Value::flag(objected)},
        };
        w.record(to_string(a.activity), fields);
    }
    w.end_section();
}

Result<std::size_t> write_messages(detail::ExportWriter& w, storage::StoreSet& stores, const storage::Contact& c) {
    w.section("messages", false);
    std::size_t n = 0;
    auto scanned = stores.messages().scan_for_contact(c.tenant, c.id, [&](const storage::MessageRecord& m) {
        if (!w.ok()) return;
        const Field fields[] = {
            {"id", Value::of(m.id.value())},
            {"direction", Value::of(std::string(storage::to_string(m.direction)))},
            {"body", Value::of(m.body)},
            {"status", Value::of(std::string(storage::to_string(m.status)))},
            {"provider_message_id", Value::of(m.provider_message_id)},
            {"created_at", time_value(m.created_at)},
            {"updated_at", time_value(m.updated_at)},
        };
        w.record(m.id.value(), fields);
        ++n;
    });
    if (!scanned) return scanned.error();
    w.end_section();
    return n;
}

Result<std::size_t> write_optouts(detail::ExportWriter& w, storage::StoreSet& stores, const storage::Contact& c) {
    auto events = stores.optouts().history(c.tenant, c.phone);
    if (!events) return events.error();
    w.section("optout_events", false);
    for (const optout::OptOutEvent& e : *events) {
        const Field fields[] = {
            {"sequence", Value::of(e.sequence)},
            {"kind", Value::of(std::string(optout::to_string(e.kind)))},
            {"scope", Value::of(std::string(optout::to_string(e.scope)))},
            {"method", Value::of(std::string(optout::to_string(e.method)))},
            {"at", time_value(e.at)},
            {"trigger", Value::of(e.trigger)},
            {"channel", Value::of(e.channel)},
            {"actor", id_value(e.actor)},
        };
        w.record(std::to_string(e.sequence), fields);
    }
    w.end_section();
    return events->size();
}

Result<std::size_t> write_consents(detail::ExportWriter& w, storage::StoreSet& stores, const storage::Contact& c) {
    auto records = stores.consents().records(c.tenant, c.phone);
    if (!records) return records.error();
    w.section("consent_records", false);
    std::size_t i = 0;
    for (const storage::ConsentRecord& r : *records) {
        const Field fields[] = {
            {"purpose", Value::of(std::string(storage::to_string(r.purpose)))},
            {"granted", Value::flag(r.granted)},
            {"at", time_value(r.at)},
            {"source", Value::of(r.source)},
            {"actor", id_value(r.actor)},
        };
        w.record(std::to_string(++i), fields);
    }
    w.end_section();
    return records->size();
}

/// The audit entries about the contact: by its id (as a contact or a lead) and by the pseudonym
/// its number has in entries written before it was a contact.
Result<std::size_t> write_audit(detail::ExportWriter& w, Engine& engine, const storage::Contact& c,
                                std::size_t page_size) {
    w.section("audit_entries", false);
    std::size_t n = 0;
    const std::pair<const char*, std::string> targets[] = {
        {"contact", c.id.value()}, {"lead", c.id.value()}, {"contact", engine.pseudonym(c.phone)}};
    for (const auto& [type, id] : targets) {
        audit::Query q(c.tenant);
        q.target_type = type;
        q.target_id = id;
        q.limit = page_size;
        for (;;) {
            auto page = engine.audit().query(q);
            if (!page) return page.error();
            for (const audit::Entry& e : *page) {
                const Field fields[] = {
                    {"sequence", Value::of(e.sequence)},
                    {"at", time_value(e.at)},
                    {"actor", e.actor.is_system() ? Value::of("system") : Value::of(e.actor.user.value())},
                    {"actor_role", Value::of(e.actor.role ? std::string(rbac::to_string(*e.actor.role)) : "system")},
                    {"action", Value::of(e.action)},
                    {"target_type", Value::of(e.target_type)},
                    {"target_id", Value::of(e.target_id)},
                    {"outcome", Value::of(std::string(to_string(e.outcome)))},
                    {"rule", Value::of(e.rule)},
                    {"request_id", Value::of(e.request_id)},
                };
                w.record(std::to_string(e.sequence), fields);
                ++n;
            }
            if (!w.ok()) return n;
            if (page->size() < q.limit) break;
            q.after_sequence = page->back().sequence;
        }
    }
    w.end_section();
    return n;
}

/// The normalised value of each rectified field, or the schema's objection to it.
struct Rectified {
    std::string name, email;
    std::optional<PhoneNumber> phone;
};

Result<Rectified> check_rectification(const sanitize::LeadSchema& schema, const storage::Contact& c,
                                      const Rectification& change) {
    if (change.phone && change.phone->find_first_not_of(" \t\r\n") == std::string::npos)
        return Error(PrivacyErrc::invalid_request, "a contact keeps a phone number: it can be corrected, not removed");
    sanitize::LeadInput in;
    in.name = change.name.value_or(c.name);
    in.email = change.email.value_or(c.email);
    in.phone = change.phone.value_or(c.phone.e164());
    in.phone_region = change.phone_region;
    in.source = schema.config().sources.empty() ? c.source : schema.config().sources.front();
    // Only the fields being changed are judged: an old value the schema would now refuse is not
    // the rectifier's problem.
    std::string problems;
    std::optional<Error> first;
    for (const sanitize::FieldError& fe : schema.check(in)) {
        const bool changed = (fe.field == "name" && change.name) || (fe.field == "email" && change.email) ||
                             ((fe.field == "phone" || fe.field == "phone_region") && change.phone);
        if (!changed) continue;
        if (!first) first = fe.error;
        problems += (problems.empty() ? "" : "; ") + fe.field + ": " + fe.error.detail();
    }
    if (first) return Error(first->code(), problems);
    auto valid = schema.validate(in);
    Rectified out;
    out.name = c.name;
    out.email = c.email;
    if (valid) {
        if (change.name) out.name = valid->name;
        if (change.email) out.email = valid->email ? valid->email->normalized() : std::string();
        if (change.phone) out.phone = valid->phone;
        return out;
    }
    // Another (unchanged) field fails the schema: normalise the changed ones on their own.
    auto trimmed = [](std::string_view s) {
        const auto b = s.find_first_not_of(" \t\r\n");
        if (b == std::string_view::npos) return std::string();
        return std::string(s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1));
    };
    if (change.name) out.name = trimmed(*change.name);
    if (change.email) {
        const std::string e = trimmed(*change.email);
        if (e.empty()) out.email.clear();
        else if (auto parsed = sanitize::EmailAddress::parse(e)) out.email = parsed->normalized();
        else return parsed.error();
    }
    if (change.phone) {
        auto parsed = PhoneNumber::parse(trimmed(*change.phone),
                                         change.phone_region.empty() ? schema.config().default_region : change.phone_region);
        if (!parsed) return parsed.error();
        out.phone = std::move(parsed).value();
    }
    return out;
}

}  // namespace

Rights::Rights(Engine& engine, storage::StoreSet& stores, const Clock& clock, RightsOptions options)
    : engine_(engine), stores_(stores), clock_(clock), options_(std::move(options)) {
    if (options_.page_size == 0) options_.page_size = 1;
}

// ---- access and portability ----

Result<Attempt<AccessExport>> Rights::export_contact(const rbac::Principal& by, const TenantId& tenant,
                                                     const ContactId& contact, ExportFormat format, const Sink& out,
                                                     std::string_view request_id) {
    const std::string action = format == ExportFormat::json ? "privacy.access.json" : "privacy.access.csv";
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::export_, action, request_id);
    if (!opened) return opened.error();
    if (!opened->contact) return denied<AccessExport>(std::move(opened->access));
    const storage::Contact& c = *opened->contact;

    auto status = engine_.status(tenant, c.phone);
    if (!status) return status.error();
    auto last_inbound = stores_.activity().last_inbound(tenant, c.phone);
    if (!last_inbound) return last_inbound.error();

    auto w = detail::ExportWriter::make(format, out);
    const Field meta[] = {
        {"format", Value::of("heroshhi.subject_access.v1")},
        {"tenant", Value::of(tenant.value())},
        {"contact_id", Value::of(c.id.value())},
        {"generated_at", time_value(clock_.now())},
    };
    w->begin(meta);
    write_contact(*w, c);
    write_activities(*w, c, status->marketing_opted_out);
    w->section("inbound_activity", false);
    if (*last_inbound) {
        const Field fields[] = {{"last_inbound_at", time_value(**last_inbound)}};
        w->record("last_inbound", fields);
    }
    w->end_section();

    AccessExport summary;
    auto messages = write_messages(*w, stores_, c);
    if (!messages) return messages.error();
    summary.messages = *messages;
    auto optouts = write_optouts(*w, stores_, c);
    if (!optouts) return optouts.error();
    summary.optout_events = *optouts;
    auto consents = write_consents(*w, stores_, c);
    if (!consents) return consents.error();
    summary.consent_records = *consents;
    auto entries = write_audit(*w, engine_, c, options_.page_size);
    if (!entries) return entries.error();
    summary.audit_entries = *entries;
    if (!w->ok() || !w->end()) return write_failed();
    return done(std::move(opened->access), summary);
}

Result<Attempt<AccessExport>> Rights::export_contact(const rbac::Principal& by, const TenantId& tenant,
                                                     const ContactId& contact, ExportFormat format, std::ostream& out,
                                                     std::string_view request_id) {
    return export_contact(by, tenant, contact, format, stream_sink(out), request_id);
}

std::string_view to_string(TenantTable t) noexcept {
    switch (t) {
        case TenantTable::leads: return "leads";
        case TenantTable::messages: return "messages";
        case TenantTable::optout_events: return "optouts";
        case TenantTable::consent_records: return "consents";
    }
    return "unknown";
}

namespace {

void append_row(std::string& b, std::span<const std::string> cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i != 0) b += ',';
        detail::append_cell(b, cells[i]);
    }
    b += "\r\n";
}

/// Writes one table of the tenant's export. Memory: one page of leads, the restricted numbers, and
/// the sink's chunk.
class TableWriter {
public:
    TableWriter(storage::StoreSet& stores, const TenantId& tenant, const LeadExportOptions& options,
                std::size_t page_size, const Sink& out)
        : stores_(stores), tenant_(tenant), options_(options), page_size_(page_size), sink_(out) {}

    Result<TableExport> write(TenantTable table) {
        Result<void> written = [&]() -> Result<void> {
            switch (table) {
                case TenantTable::leads: return leads();
                case TenantTable::messages: return messages();
                case TenantTable::optout_events: return optout_events();
                case TenantTable::consent_records: return consent_records();
            }
            return {};
        }();
        if (!written) return written.error();
        if (!sink_.flush()) return write_failed();
        return summary_;
    }

private:
    /// Calls `visit` for each live lead the export takes (team, restriction), a page at a time.
    template <class Visit>
    Result<void> each_lead(const Visit& visit) {
        storage::Page page{"", page_size_};
        for (;;) {
            auto batch = stores_.contacts().list(tenant_, page);
            if (!batch) return batch.error();
            for (const storage::Contact& c : *batch) {
                if (c.deleted_at || (!options_.team.empty() && c.team != options_.team)) continue;
                if (c.restricted && !options_.include_restricted) {
                    ++summary_.restricted_skipped;
                    continue;
                }
                if (auto v = visit(c); !v) return v;
            }
            if (!sink_.maybe_flush()) return write_failed();
            if (batch->size() < page.limit) return {};
            page.after = batch->back().id.value();
        }
    }

    /// The numbers of restricted live leads, whose records the export leaves out.
    Result<std::set<std::string>> restricted_numbers() {
        std::set<std::string> out;
        if (options_.include_restricted) return out;
        storage::Page page{"", page_size_};
        for (;;) {
            auto batch = stores_.contacts().list(tenant_, page);
            if (!batch) return batch.error();
            for (const storage::Contact& c : *batch)
                if (c.restricted && !c.deleted_at) out.insert(c.phone.e164());
            if (batch->size() < page.limit) return out;
            page.after = batch->back().id.value();
        }
    }

    Result<void> leads() {
        sink_.buffer() = "id,name,phone,email,source,assignee,team,created_at,updated_at,analytics_objection\r\n";
        return each_lead([&](const storage::Contact& c) -> Result<void> {
            const std::string cells[] = {c.id.value(), c.name, c.phone.e164(), c.email, c.source,
                                         c.assignee ? c.assignee->value() : std::string(), c.team,
                                         to_iso8601(c.created_at), to_iso8601(c.updated_at),
                                         c.analytics_objection ? "true" : "false"};
            append_row(sink_.buffer(), cells);
            ++summary_.rows;
            return {};
        });
    }

    Result<void> messages() {
        sink_.buffer() = "id,contact_id,direction,status,body,provider_message_id,created_at,updated_at\r\n";
        return each_lead([&](const storage::Contact& c) -> Result<void> {
            return stores_.messages().scan_for_contact(tenant_, c.id, [&](const storage::MessageRecord& m) {
                const std::string cells[] = {m.id.value(), m.contact.value(), std::string(storage::to_string(m.direction)),
                                             std::string(storage::to_string(m.status)), m.body, m.provider_message_id,
                                             to_iso8601(m.created_at), to_iso8601(m.updated_at)};
                append_row(sink_.buffer(), cells);
                ++summary_.rows;
                (void)sink_.maybe_flush();  // a refusal is seen by the next check
            });
        });
    }

    Result<void> optout_events() {
        auto restricted = restricted_numbers();
        if (!restricted) return restricted.error();
        sink_.buffer() = "sequence,phone,kind,scope,method,keyword,channel,actor,at,erased\r\n";
        auto row = [&](std::int64_t sequence, const std::string& phone, optout::EventKind kind, optout::Scope scope,
                       optout::Method method, const std::string& trigger, const std::string& channel,
                       const std::string& actor, Timestamp at, bool erased) {
            const std::string cells[] = {std::to_string(sequence), phone, std::string(optout::to_string(kind)),
                                         std::string(optout::to_string(scope)), std::string(optout::to_string(method)),
                                         trigger, channel, actor, to_iso8601(at), erased ? "true" : "false"};
            append_row(sink_.buffer(), cells);
            ++summary_.rows;
            (void)sink_.maybe_flush();
        };
        auto plain = stores_.optouts().scan(tenant_, [&](const optout::OptOutEvent& e) {
            std::string phone = e.phone.e164();
            if (restricted->contains(phone)) return;
            row(e.sequence, phone, e.kind, e.scope, e.method, e.trigger, e.channel,
                e.actor ? e.actor->value() : std::string(), e.at, false);
        });
        if (!plain) return plain;
        return stores_.optouts().scan_erased(tenant_, [&](const optout::ErasedOptOutEvent& e) {
            row(e.sequence, std::string(), e.kind, e.scope, e.method, e.trigger, e.channel, std::string(), e.at, true);
        });
    }

    Result<void> consent_records() {
        auto restricted = restricted_numbers();
        if (!restricted) return restricted.error();
        sink_.buffer() = "phone,purpose,granted,at,source,actor\r\n";
        return stores_.consents().scan(tenant_, [&](const storage::ConsentRecord& r) {
            std::string phone = r.phone.e164();
            if (restricted->contains(phone)) return;
            const std::string cells[] = {phone, std::string(storage::to_string(r.purpose)), r.granted ? "true" : "false",
                                         to_iso8601(r.at), r.source, r.actor ? r.actor->value() : std::string()};
            append_row(sink_.buffer(), cells);
            ++summary_.rows;
            (void)sink_.maybe_flush();
        });
    }

    storage::StoreSet& stores_;
    const TenantId& tenant_;
    const LeadExportOptions& options_;
    std::size_t page_size_;
    detail::ChunkedSink sink_;
    TableExport summary_;
};

}  // namespace

Result<Attempt<TableExport>> Rights::export_table_csv(const rbac::Principal& by, const TenantId& tenant,
                                                      TenantTable table, const Sink& out, LeadExportOptions options,
                                                      std::string_view request_id) {
    const bool per_lead = table == TenantTable::leads || table == TenantTable::messages;
    if (!per_lead && !options.team.empty())
        return Error(PrivacyErrc::invalid_request,
                     "opt-out and consent records are kept per number for the whole tenant: they have no team filter");
    Resource resource{ResourceType::lead, tenant};
    resource.team = options.team;
    auto access = authorize(engine_, by, Action::export_, resource, "privacy.export." + std::string(to_string(table)),
                            request_id);
    if (!access) return access.error();
    if (!access->allowed()) return denied<TableExport>(std::move(access).value());
    auto written = TableWriter(stores_, tenant, options, options_.page_size, out).write(table);
    if (!written) return written.error();
    return done(std::move(access).value(), *written);
}

Result<Attempt<LeadExport>> Rights::export_leads_csv(const rbac::Principal& by, const TenantId& tenant, const Sink& out,
                                                     LeadExportOptions options, std::string_view request_id) {
    auto table = export_table_csv(by, tenant, TenantTable::leads, out, std::move(options), request_id);
    if (!table) return table.error();
    if (!table->allowed()) return denied<LeadExport>(std::move(table->access));
    return done(std::move(table->access), LeadExport{table->value->rows, table->value->restricted_skipped});
}

Result<Attempt<LeadExport>> Rights::export_leads_csv(const rbac::Principal& by, const TenantId& tenant,
                                                     std::ostream& out, LeadExportOptions options,
                                                     std::string_view request_id) {
    return export_leads_csv(by, tenant, stream_sink(out), std::move(options), request_id);
}

// ---- rectification ----

Result<Attempt<storage::Contact>> Rights::rectify(const rbac::Principal& by, const TenantId& tenant,
                                                  const ContactId& contact, const Rectification& change,
                                                  std::string_view request_id) {
    // A value the schema refuses is refused before anything is recorded (it is not an operation),
    // but only to a principal who may change the contact: to anyone else, the answer does not
    // depend on whether the contact exists or what it holds.
    if (by.tenant == tenant && !tenant.empty() && !contact.empty()) {
        auto found = stores_.contacts().get(tenant, contact);
        if (!found) return found.error();
        if (*found && engine_.authorizer().check(by, Action::update, contact_resource(**found)).allowed())
            if (auto checked = check_rectification(options_.schema, **found, change); !checked) return checked.error();
    }
    // A hold keeps the data as it is: rectifying would overwrite (and scrub) the held values.
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::update, "privacy.rectify", request_id,
                               "rectified");
    if (!opened) return opened.error();
    if (!opened->contact) return denied<storage::Contact>(std::move(opened->access));
    storage::Contact c = std::move(*opened->contact);
    auto rectified = check_rectification(options_.schema, c, change);  // the contact as authorized
    if (!rectified) return rectified.error();
    const bool phone_changed = rectified->phone && *rectified->phone != c.phone;
    // The old number's records go as in an erasure (kept only as its keyed hash), which needs the
    // engine's blind index: without it nothing is changed rather than the old number kept plain.
    if (phone_changed && !engine_.can_erase_numbers())
        return Error(storage::StorageErrc::key_unavailable,
                     "changing a contact's number erases the old number's records, keeping its opt-outs only as a "
                     "keyed hash: the engine needs EngineOptions::blind_index");
    const storage::Contact before = c;
    c.name = std::move(rectified->name);
    c.email = std::move(rectified->email);
    if (rectified->phone) c.phone = *rectified->phone;
    c.updated_at = clock_.now();
    if (auto stored = stores_.contacts().put(c); !stored) return stored.error();
    // The restriction follows the contact to its corrected number (the old number stays blocked in
    // memory until the next reload, which errs on the side of not sending).
    if (phone_changed && c.restricted)
        if (auto r = engine_.warm(tenant); !r) return r.error();  // reloads restrictions by number
    if (phone_changed) {
        // The old number is no longer the contact's: its opt-out history is kept only as a keyed
        // hash (still suppressed), its consents and inbound activity go, unless another live
        // contact of the tenant has it. If that fails, the contact gets its old number back so
        // that repeating the rectification does it all (each erasure step is idempotent).
        std::optional<Error> failed;
        auto other = stores_.contacts().find_by_phone(tenant, before.phone);
        if (!other) failed = other.error();
        else if (!*other)
            if (auto erased = engine_.erase_number(tenant, before.phone, by.user); !erased) failed = erased.error();
        if (failed) {
            (void)stores_.contacts().put(before);
            return *failed;
        }
    }
    (void)stores_.scrub();  // the old values' residue; a busy log is emptied by a later scrub
    return done(std::move(opened->access), std::move(c));
}

// ---- erasure and deletion ----

Result<Attempt<Erasure>> Rights::erase(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                       std::string_view request_id) {
    if (tenant.empty() || contact.empty())
        return Error(PrivacyErrc::invalid_request, "an erasure needs a tenant and a contact id");
    // Allowed, but a hold on the contact or its tenant wins: recorded as such, the caller told why.
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::delete_, "privacy.erase", request_id,
                               "erased");
    if (!opened) return opened.error();
    if (!opened->contact) return denied<Erasure>(std::move(opened->access));
    rbac::AccessDecision access = std::move(opened->access);
    const storage::Contact c = std::move(*opened->contact);

    Erasure out;
    if (auto counted = stores_.messages().scan_for_contact(tenant, c.id, [&](const storage::MessageRecord&) { ++out.messages; });
        !counted)
        return counted.error();
    // Hidden first, so that the number's lookup below sees only the other contacts; a failed
    // erasure leaves the contact soft-deleted, and repeating it finishes the work.
    if (auto hidden = stores_.contacts().soft_delete(tenant, c.id, clock_.now()); !hidden) return hidden.error();
    auto other = stores_.contacts().find_by_phone(tenant, c.phone);
    if (!other) return other.error();
    out.number_shared = other->has_value();
    if (!out.number_shared) {
        auto number = engine_.erase_number(tenant, c.phone, by.user);
        if (!number) return number.error();
        out.number = *number;
    }
    if (auto gone = stores_.contacts().hard_delete(tenant, c.id); !gone) return gone.error();
    out.scrubbed = stores_.scrub().has_value();
    return done(std::move(access), out);
}

Result<Attempt<BulkDelete>> Rights::bulk_delete(const rbac::Principal& by, const TenantId& tenant,
                                                std::span<const ContactId> leads, std::string_view request_id) {
    const Resource bulk{ResourceType::lead, tenant};
    // A tenant hold refuses the whole request; a lead's own hold keeps that lead (below).
    auto access = authorize_unless_held(engine_, by, Action::bulk_delete, bulk, "privacy.bulk_delete", request_id,
                                        by.tenant == tenant && !tenant.empty(),
                                        [&] { return tenant_hold(stores_, tenant, "deleted"); });
    if (!access) return access.error();
    if (!access->allowed()) return denied<BulkDelete>(std::move(access).value());

    BulkDelete out;
    const Timestamp now = clock_.now();
    for (std::size_t start = 0; start < leads.size(); start += options_.page_size) {
        const auto chunk = leads.subspan(start, std::min(options_.page_size, leads.size() - start));
        std::vector<audit::Entry> entries;
        std::vector<ContactId> to_delete;
        for (const ContactId& id : chunk) {
            auto found = stores_.contacts().get(tenant, id);
            if (!found) return found.error();
            if (!*found) {
                out.missing.push_back(id);
                continue;
            }
            const storage::Contact& c = **found;
            if (c.deleted_at) {
                ++out.already_deleted;
                continue;
            }
            audit::Entry e;
            e.tenant = tenant;
            e.actor = audit::Actor::member(by.user, by.role);
            e.action = "privacy.bulk_delete.lead";
            e.target_type = "lead";
            e.target_id = id.value();
            e.request_id = request_id;
            e.policy_revision = access->revision();
            if (c.legal_hold) {
                e.outcome = Reason::legal_hold;
                e.rule = "privacy.legal_hold";
                out.held.push_back(id);
            } else {
                e.outcome = Reason::allowed;
                e.rule = access->rule();
                to_delete.push_back(id);
            }
            entries.push_back(std::move(e));
        }
        if (!entries.empty())
            if (auto a = engine_.audit().append(entries); !a) return a.error();
        for (const ContactId& id : to_delete) {
            auto deleted = stores_.contacts().soft_delete(tenant, id, now);
            if (!deleted) return deleted.error();
            if (*deleted) ++out.deleted;
            else ++out.already_deleted;  // deleted meanwhile
        }
    }
    return done(std::move(access).value(), std::move(out));
}

// ---- restriction and objection ----

Result<Attempt<bool>> Rights::restrict_processing(const rbac::Principal& by, const TenantId& tenant,
                                                  const ContactId& contact, bool restricted,
                                                  std::string_view request_id) {
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::update,
                               restricted ? "privacy.restrict" : "privacy.restrict.lift", request_id);
    if (!opened) return opened.error();
    if (!opened->contact) return denied<bool>(std::move(opened->access));
    if (opened->contact->restricted == restricted) return done(std::move(opened->access), false);
    // Authorized and audited above. The engine blocks sends in memory before it stores a
    // restriction (and stores a lifting before it unblocks), so no send slips through between.
    if (auto stored = engine_.set_restricted(tenant, contact, restricted); !stored) return stored.error();
    return done(std::move(opened->access), true);
}

Result<Attempt<bool>> Rights::object(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                     Objection purpose, std::string_view request_id) {
    // Checked against the register: an objection stops only an activity open to objection.
    const Activity activity = activity_of(purpose);
    if (!objection_applies(activity))
        return Error(PrivacyErrc::not_objectable, std::string(processing_activity(activity).name) +
                                                      " rests on " + std::string(to_string(processing_activity(activity).basis)) +
                                                      ", which an objection does not stop");
    if (purpose == Objection::marketing) {
        // The engine authorizes and audits the opt-out itself ("opt_out.manual"); a principal of
        // another tenant, or a contact that does not exist, is answered as open_contact does.
        std::optional<storage::Contact> found;
        if (by.tenant == tenant && !tenant.empty() && !contact.empty()) {
            auto read = stores_.contacts().get(tenant, contact);
            if (!read) return read.error();
            found = std::move(*read);
        }
        if (!found) {
            auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::update,
                                       "privacy.object.marketing", request_id);
            if (!opened) return opened.error();
            if (!opened->contact) return denied<bool>(std::move(opened->access));
            found = std::move(opened->contact);  // created meanwhile
        }
        OptOutRequest request{optout::Scope::marketing, "objection to marketing", std::string(request_id)};
        auto recorded = engine_.opt_out_manually(tenant, by, found->phone, std::move(request));
        if (!recorded) return recorded.error();
        if (!recorded->allowed()) return denied<bool>(std::move(recorded->access));
        return done(std::move(recorded->access), true);
    }
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::update, "privacy.object.analytics",
                               request_id);
    if (!opened) return opened.error();
    if (!opened->contact) return denied<bool>(std::move(opened->access));
    storage::Contact c = std::move(*opened->contact);
    if (c.analytics_objection) return done(std::move(opened->access), false);
    c.analytics_objection = true;
    c.updated_at = clock_.now();
    if (auto stored = stores_.contacts().put(c); !stored) return stored.error();
    return done(std::move(opened->access), true);
}

Result<Attempt<bool>> Rights::withdraw_objection(const rbac::Principal& by, const TenantId& tenant,
                                                 const ContactId& contact, Objection purpose,
                                                 std::string_view request_id) {
    if (purpose == Objection::marketing)
        return Error(PrivacyErrc::not_objectable,
                     "a marketing objection is an opt-out: the contact lifts it by opting in (START)");
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::update,
                               "privacy.object.analytics.withdraw", request_id);
    if (!opened) return opened.error();
    if (!opened->contact) return denied<bool>(std::move(opened->access));
    storage::Contact c = std::move(*opened->contact);
    if (!c.analytics_objection) return done(std::move(opened->access), false);
    c.analytics_objection = false;
    c.updated_at = clock_.now();
    if (auto stored = stores_.contacts().put(c); !stored) return stored.error();
    return done(std::move(opened->access), true);
}

// ---- the account: termination and legal holds ----

namespace {

Resource account_resource(const TenantId& tenant) { return Resource{ResourceType::account, tenant, tenant.value()}; }

/// The account store, or why there is none (nothing about the account can be decided without it).
Result<storage::AccountStore*> account_store(storage::StoreSet& stores, const TenantId& tenant) {
    if (tenant.empty()) return Error(PrivacyErrc::invalid_request, "an account operation needs a tenant");
    storage::AccountStore* accounts = stores.accounts();
    if (accounts == nullptr)
        return Error(storage::StorageErrc::unavailable,
                     "the store set keeps no accounts: nothing about tenant '" + tenant.value() + "' was changed");
    return accounts;
}

}  // namespace

Result<Attempt<Termination>> Rights::terminate_account(const rbac::Principal& by, const TenantId& tenant,
                                                       std::string_view request_id) {
    auto accounts = account_store(stores_, tenant);
    if (!accounts) return accounts.error();
    auto access = authorize(engine_, by, Action::terminate_account, account_resource(tenant),
                            "privacy.terminate_account", request_id);
    if (!access) return access.error();
    if (!access->allowed()) return denied<Termination>(std::move(access).value());
    auto current = (*accounts)->get(tenant);
    if (!current) return current.error();
    storage::Account account = current->value_or(storage::Account(tenant));
    Termination out;
    out.already_closed = account.closed_at.has_value();
    if (!account.closed_at) {
        account.closed_at = clock_.now();
        if (auto stored = (*accounts)->put(account); !stored) return stored.error();
    }
    out.closed_at = *account.closed_at;
    out.deletion_after = *account.closed_at + retention::Policy::account_grace;
    out.legal_hold = account.legal_hold;
    return done(std::move(access).value(), out);
}

Result<Attempt<bool>> Rights::set_tenant_legal_hold(const rbac::Principal& by, const TenantId& tenant, bool held,
                                                    std::string_view request_id) {
    auto accounts = account_store(stores_, tenant);
    if (!accounts) return accounts.error();
    auto access = authorize(engine_, by, Action::manage, account_resource(tenant),
                            held ? "privacy.legal_hold.place" : "privacy.legal_hold.lift", request_id);
    if (!access) return access.error();
    if (!access->allowed()) return denied<bool>(std::move(access).value());
    auto current = (*accounts)->get(tenant);
    if (!current) return current.error();
    storage::Account account = current->value_or(storage::Account(tenant));
    if (account.legal_hold == held) return done(std::move(access).value(), false);
    account.legal_hold = held;
    if (auto stored = (*accounts)->put(account); !stored) return stored.error();
    return done(std::move(access).value(), true);
}

Result<Attempt<bool>> Rights::set_legal_hold(const rbac::Principal& by, const TenantId& tenant, const ContactId& contact,
                                             bool held, std::string_view request_id) {
    auto opened = open_contact(engine_, stores_, by, tenant, contact, Action::manage,
                               held ? "privacy.legal_hold.place" : "privacy.legal_hold.lift", request_id);
    if (!opened) return opened.error();
    if (!opened->contact) return denied<bool>(std::move(opened->access));
    storage::Contact c = std::move(*opened->contact);
    if (c.legal_hold == held) return done(std::move(opened->access), false);
    c.legal_hold = held;
    c.updated_at = clock_.now();
    if (auto stored = stores_.contacts().put(c); !stored) return stored.error();
    return done(std::move(opened->access), true);
}

}  // namespace heroshhi::privacy
