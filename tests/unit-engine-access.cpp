// The engine's user-facing operations: authorize, then audit (allowed or denied), then act.
#include <doctest/doctest.h>

#include <heroshhi/audit/pseudonym.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>

#include <sstream>

#include "support/forwarding_store.hpp"

using namespace heroshhi;
using namespace std::chrono_literals;
using messaging::MessageKind;
using rbac::Principal;
using rbac::Role;

namespace {

const TenantId acme{"acme"};
const TenantId globex{"globex"};
const Timestamp start_time = from_unix_ms(1'793'628'187'000);  // 2026-11-02T14:03:07Z

/// Every port of a MemoryStore, except that the audit port can be made to fail on its own.
class AuditFailingStore final : public test_support::MemoryBackedStore, private storage::AuditStore {
public:
    storage::AuditStore& audit() override { return *this; }

    bool failing = false;

private:
    Result<void> append(const TenantId& t, std::span<const audit::Entry> e, const audit::ChainHead& h) override {
        if (failing) return {storage::StorageErrc::unavailable, "audit store down"};
        return inner.audit().append(t, e, h);
    }
    Result<audit::ChainState> chain(const TenantId& t) const override {
        return inner.audit().chain(t);
    }
    Result<std::vector<audit::Entry>> query(const audit::Query& q) const override {
        return inner.audit().query(q);
    }
    Result<std::int64_t> purge_through(const TenantId& t, std::int64_t through) override {
        return inner.audit().purge_through(t, through);
    }
};

struct Fixture {
    AuditFailingStore store;
    ManualClock clock{start_time};
    Engine engine{store, clock, [] {
                      EngineOptions o;
                      o.audit_key = "a key the host keeps: 32 bytes!!";
                      return o;
                  }()};
    PhoneNumber lead = PhoneNumber::parse("+14155550123").value();
    Principal sales{UserId{"u-sales-1"}, acme, Role::sales, "north"};
    Principal other_sales{UserId{"u-sales-2"}, acme, Role::sales, "north"};
    Principal manager{UserId{"u-manager-1"}, acme, Role::manager, "north"};
    Principal admin{UserId{"u-admin-1"}, acme, Role::admin};

    Fixture() {
        storage::Contact c{acme, ContactId{"c-42"}, lead};
        c.assignee = UserId{"u-sales-1"};
        c.team = "north";
        REQUIRE(store.contacts().put(c).has_value());
    }

    std::vector<audit::Entry> trail(const TenantId& tenant = acme) {
        auto all = engine.audit().query(audit::Query(tenant));
        REQUIRE(all.has_value());
        return *all;
    }
};

}  // namespace

TEST_CASE("a sales user opts out an assigned lead by hand: authorized, audited, then recorded") {
    Fixture f;
    auto attempt = f.engine.opt_out_manually(acme, f.sales, f.lead, {.note = "asked by phone", .request_id = "req-7"});
    REQUIRE(attempt.has_value());
    REQUIRE(attempt->allowed());
    CHECK(attempt->access.rule() == "sales.assigned_leads");
    REQUIRE(attempt->value.has_value());
    CHECK(attempt->value->actor == UserId{"u-sales-1"});
    CHECK(attempt->value->method == optout::Method::manual);
    CHECK(attempt->value->trigger == "asked by phone");
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).reason() == Reason::opted_out);

    const auto trail = f.trail();
    REQUIRE(trail.size() == 1);
    const audit::Entry& e = trail[0];
    CHECK(e.actor == audit::Actor::member(UserId{"u-sales-1"}, Role::sales));
    CHECK(e.action == "opt_out.manual");
    CHECK(e.target_type == "contact");
    CHECK(e.target_id == "c-42");
    CHECK(e.allowed());
    CHECK(e.rule == "sales.assigned_leads");
    CHECK(e.request_id == "req-7");
    CHECK(e.policy_revision == "builtin-2");
    CHECK(e.at == start_time);
}

TEST_CASE("a denied opt-out is audited and changes nothing") {
    Fixture f;
    auto attempt = f.engine.opt_out_manually(acme, f.other_sales, f.lead, {.request_id = "req-8"});
    REQUIRE(attempt.has_value());
    CHECK_FALSE(attempt->allowed());
    CHECK_FALSE(attempt->value.has_value());
    CHECK(attempt->access.reason() == Reason::not_authorized);
    CHECK(attempt->access.notice() == "Not allowed: a sales user may not change this contact unless it is assigned to them.");
    CHECK(f.engine.history(acme, f.lead)->empty());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());

    const auto trail = f.trail();
    REQUIRE(trail.size() == 1);
    CHECK(trail[0].outcome == Reason::not_authorized);
    CHECK(trail[0].rule == "default.deny");
    CHECK(trail[0].actor.user == UserId{"u-sales-2"});
    CHECK(trail[0].target_id == "c-42");
}

TEST_CASE("a principal of another tenant is denied, whatever its role, and the attempt lands in the target's trail") {
    Fixture f;
    const Principal intruder{UserId{"u-globex-owner"}, globex, Role::owner};
    auto attempt = f.engine.opt_out_via_api(acme, intruder, f.lead);
    REQUIRE(attempt.has_value());
    CHECK_FALSE(attempt->allowed());
    CHECK(attempt->access.reason() == Reason::cross_tenant);
    CHECK(f.engine.history(acme, f.lead)->empty());
    const auto trail = f.trail();
    REQUIRE(trail.size() == 1);
    CHECK(trail[0].outcome == Reason::cross_tenant);
    CHECK(trail[0].rule == "tenant.isolation");
    CHECK(trail[0].action == "opt_out.api");
    CHECK(f.trail(globex).empty());

    Decision send = f.engine.check_send(acme, intruder, f.lead, MessageKind::utility_template);
    CHECK(send.reason() == Reason::cross_tenant);
}

TEST_CASE("a number without a contact is named in the trail by a keyed pseudonym, never by its digits") {
    Fixture f;
    const PhoneNumber stranger = PhoneNumber::parse("+14155550199").value();
    auto attempt = f.engine.opt_out_manually(acme, f.admin, stranger);
    REQUIRE(attempt.has_value());
    CHECK(attempt->allowed());
    auto sales_attempt = f.engine.opt_out_manually(acme, f.sales, stranger);
    REQUIRE(sales_attempt.has_value());
    CHECK_FALSE(sales_attempt->allowed());  // an unassigned number is no sales user's lead

    const auto trail = f.trail();
    REQUIRE(trail.size() == 2);
    CHECK(trail[0].target_id == audit::phone_pseudonym("a key the host keeps: 32 bytes!!", stranger));
    CHECK(trail[1].target_id == trail[0].target_id);
    std::ostringstream exported;
    REQUIRE(f.engine.audit().export_jsonl(audit::Query(acme), exported).has_value());
    CHECK(exported.str().find("4155550199") == std::string::npos);
    CHECK(exported.str().find("4155550123") == std::string::npos);
}

TEST_CASE("when the audit trail cannot be written, nothing is done and nothing is sent") {
    Fixture f;
    f.store.failing = true;
    auto attempt = f.engine.opt_out_manually(acme, f.sales, f.lead);
    REQUIRE_FALSE(attempt.has_value());
    CHECK(attempt.error() == storage::StorageErrc::unavailable);
    CHECK(f.engine.history(acme, f.lead)->empty());

    REQUIRE(f.engine.on_inbound({acme, f.lead, "hello"}).has_value());
    Decision d = f.engine.check_send(acme, f.sales, f.lead, MessageKind::free_form);
    CHECK(d.reason() == Reason::store_unavailable);
    CHECK(d.rule() == "audit.unavailable");
    auto authorized = f.engine.authorize(f.admin, rbac::Action::export_, rbac::Resource{rbac::ResourceType::lead, acme});
    REQUIRE_FALSE(authorized.has_value());

    f.store.failing = false;
    CHECK(f.engine.check_send(acme, f.sales, f.lead, MessageKind::free_form).allowed());
}

TEST_CASE("a manual send is authorized, then gated, and the outcome is audited") {
    Fixture f;
    REQUIRE(f.engine.on_inbound({acme, f.lead, "Is it still available?"}).has_value());
    Decision allowed = f.engine.check_send(acme, f.sales, f.lead, MessageKind::free_form, "req-1");
    CHECK(allowed.allowed());
    Decision not_theirs = f.engine.check_send(acme, f.other_sales, f.lead, MessageKind::free_form, "req-2");
    CHECK(not_theirs.reason() == Reason::not_authorized);
    CHECK(not_theirs.notice() == "Not allowed: a sales user may not send messages to this contact unless it is "
                                 "assigned to them.");
    Decision team = f.engine.check_send(acme, f.manager, f.lead, MessageKind::free_form, "req-3");
    CHECK(team.allowed());

    REQUIRE(f.engine.on_inbound({acme, f.lead, "STOP"}).has_value());
    Decision blocked = f.engine.check_send(acme, f.sales, f.lead, MessageKind::free_form, "req-4");
    CHECK(blocked.reason() == Reason::opted_out);

    const auto trail = f.trail();
    REQUIRE(trail.size() == 4);
    CHECK(trail[0].action == "send.free_form");
    CHECK(trail[0].outcome == Reason::allowed);
    CHECK(trail[0].rule == "sales.assigned_leads");
    CHECK(trail[1].outcome == Reason::not_authorized);
    CHECK(trail[2].rule == "manager.team_leads");
    CHECK(trail[3].outcome == Reason::opted_out);
    CHECK(trail[3].rule == "optout.blocks_all");
    CHECK(trail[3].request_id == "req-4");
}

TEST_CASE("authorize audits what the host does itself, allowed or not") {
    Fixture f;
    rbac::Resource lead{rbac::ResourceType::lead, acme, "c-42"};
    lead.team = "north";
    lead.assignee = UserId{"u-sales-1"};
    auto export_by_manager = f.engine.authorize(f.manager, rbac::Action::export_, lead, "req-1");
    REQUIRE(export_by_manager.has_value());
    CHECK(export_by_manager->allowed());
    auto export_by_sales = f.engine.authorize(f.sales, rbac::Action::export_, lead, "req-2");
    REQUIRE(export_by_sales.has_value());
    CHECK_FALSE(export_by_sales->allowed());
    CHECK(export_by_sales->rule() == "sales.no_bulk_delete_or_export");
    rbac::Resource billing{rbac::ResourceType::billing, acme};
    CHECK_FALSE(f.engine.authorize(f.admin, rbac::Action::manage, billing).value().allowed());

    audit::Query exports(acme);
    exports.action = "export";
    auto found = f.engine.audit().query(exports);
    REQUIRE(found.has_value());
    REQUIRE(found->size() == 2);
    CHECK((*found)[0].actor.user == UserId{"u-manager-1"});
    CHECK((*found)[0].target_type == "lead");
    CHECK((*found)[0].target_id == "c-42");
    CHECK((*found)[1].outcome == Reason::not_authorized);
    audit::Query by_sales(acme);
    by_sales.actor = UserId{"u-sales-1"};
    CHECK(f.engine.audit().query(by_sales)->size() == 1);

    SUBCASE("an id that is a phone number is refused, and the host must not act") {
        rbac::Resource by_number{rbac::ResourceType::contact, acme, "+14155550123"};
        CHECK_FALSE(f.engine.authorize(f.admin, rbac::Action::read, by_number).has_value());
    }
    SUBCASE("and the engine's trail verifies") {
        auto v = f.engine.audit().verify(acme);
        REQUIRE(v.has_value());
        CHECK(v->intact());
        CHECK(v->checked == 3);
    }
}

TEST_CASE("a policy installed on the engine applies at once, and entries name its revision") {
    Fixture f;
    auto policy = rbac::Policy::from_json(R"({"revision": "acme-2", "rules": [
        {"name": "sales.all_leads", "effect": "allow", "roles": ["sales"], "resources": ["lead", "contact"],
         "actions": ["read", "update", "send"]}]})");
    REQUIRE(policy.has_value());
    f.engine.authorizer().install(std::move(policy).value());
    auto attempt = f.engine.opt_out_manually(acme, f.other_sales, f.lead);
    REQUIRE(attempt.has_value());
    CHECK(attempt->allowed());
    CHECK(attempt->access.revision() == "acme-2");
    CHECK(f.trail().back().policy_revision == "acme-2");
    CHECK(f.trail().back().rule == "sales.all_leads");
}

namespace {

/// Who tries, and whether the default matrix lets them (by which rule).
struct Case {
    const char* who;
    Principal principal;
    bool allowed;
    const char* rule;
    Reason reason = Reason::allowed;
};

std::vector<Case> consent_cases() {
    return {
        {"the owner", Principal{UserId{"u-owner"}, acme, Role::owner}, true, "owner.everything"},
        {"an admin", Principal{UserId{"u-admin-1"}, acme, Role::admin}, true, "admin.everything"},
        {"the team's manager", Principal{UserId{"u-manager-1"}, acme, Role::manager, "north"}, true, "manager.team_leads"},
        {"another team's manager", Principal{UserId{"u-manager-2"}, acme, Role::manager, "south"}, false, "default.deny",
         Reason::not_authorized},
        {"the assigned sales user", Principal{UserId{"u-sales-1"}, acme, Role::sales, "north"}, true,
         "sales.assigned_leads"},
        {"another sales user", Principal{UserId{"u-sales-2"}, acme, Role::sales, "north"}, false, "default.deny",
         Reason::not_authorized},
        {"another tenant's owner", Principal{UserId{"u-globex-owner"}, globex, Role::owner}, false, "tenant.isolation",
         Reason::cross_tenant},
    };
}

std::vector<Case> restriction_cases() {
    return {
        {"the owner", Principal{UserId{"u-owner"}, acme, Role::owner}, true, "owner.everything"},
        {"an admin", Principal{UserId{"u-admin-1"}, acme, Role::admin}, true, "admin.everything"},
        {"the team's manager", Principal{UserId{"u-manager-1"}, acme, Role::manager, "north"}, true,
         "manager.team_requests"},
        {"another team's manager", Principal{UserId{"u-manager-2"}, acme, Role::manager, "south"}, false, "default.deny",
         Reason::not_authorized},
        {"the assigned sales user", Principal{UserId{"u-sales-1"}, acme, Role::sales, "north"}, false, "default.deny",
         Reason::not_authorized},
        {"another tenant's owner", Principal{UserId{"u-globex-owner"}, globex, Role::owner}, false, "tenant.isolation",
         Reason::cross_tenant},
    };
}

std::vector<storage::ConsentRecord> stored_consents(Fixture& f) {
    std::vector<storage::ConsentRecord> out;
    REQUIRE(f.store.consents().scan(acme, [&](const storage::ConsentRecord& r) { out.push_back(r); }).has_value());
    return out;
}

}  // namespace

TEST_CASE("a team member records consent: an update of the contact, authorized and audited, then stored") {
    for (const Case& c : consent_cases()) {
        CAPTURE(c.who);
        Fixture f;
        auto attempt = f.engine.record_consent(
            c.principal, {acme, f.lead, storage::Purpose::marketing, true, start_time, "phone_call", {}}, "req-c");
        REQUIRE(attempt.has_value());
        CHECK(attempt->allowed() == c.allowed);
        CHECK(attempt->access.rule() == c.rule);
        CHECK(attempt->access.reason() == c.reason);

        const auto trail = f.trail();
        REQUIRE(trail.size() == 1);  // allowed or denied, the attempt is in acme's trail
        CHECK(trail[0].actor == audit::Actor::member(c.principal.user, c.principal.role));
        CHECK(trail[0].action == "consent.grant.marketing");
        CHECK(trail[0].target_type == "contact");
        CHECK(trail[0].target_id == "c-42");
        CHECK(trail[0].outcome == c.reason);
        CHECK(trail[0].rule == c.rule);
        CHECK(trail[0].request_id == "req-c");
        CHECK(f.trail(globex).empty());

        const auto consents = stored_consents(f);
        const Decision marketing = f.engine.check_send(acme, f.lead, MessageKind::marketing_template);
        if (c.allowed) {
            REQUIRE(attempt->value.has_value());
            CHECK(attempt->value->actor == std::optional<UserId>{c.principal.user});
            REQUIRE(consents.size() == 1);
            CHECK(consents[0].actor == std::optional<UserId>{c.principal.user});
            CHECK(consents[0].source == "phone_call");
            CHECK(marketing.allowed());
        } else {  // nothing stored, nothing applied
            CHECK_FALSE(attempt->value.has_value());
            CHECK(consents.empty());
            CHECK(marketing.reason() == Reason::no_consent);
        }
    }
}

TEST_CASE("a withdrawal by hand is audited as one and stops marketing") {
    Fixture f;
    REQUIRE(f.engine.record_platform_consent({acme, f.lead, storage::Purpose::marketing, true, start_time, "web_form", {}})
                .has_value());
    CHECK(f.trail().empty());  // the platform's own capture is no team member's action
    auto denied = f.engine.record_consent(f.other_sales, {acme, f.lead, storage::Purpose::marketing, false, start_time,
                                                          "phone_call", {}});
    REQUIRE(denied.has_value());
    CHECK_FALSE(denied->allowed());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).allowed());
    auto withdrawn = f.engine.record_consent(f.sales, {acme, f.lead, storage::Purpose::marketing, false, start_time,
                                                       "phone_call", {}});
    REQUIRE(withdrawn.has_value());
    CHECK(withdrawn->allowed());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::no_consent);
    const auto trail = f.trail();
    REQUIRE(trail.size() == 2);
    CHECK(trail[0].action == "consent.withdraw.marketing");
    CHECK(trail[0].outcome == Reason::not_authorized);
    CHECK(trail[1].action == "consent.withdraw.marketing");
    CHECK(trail[1].allowed());
}

TEST_CASE("restricting processing answers a data-subject request: owners, admins and the team's manager") {
    for (const Case& c : restriction_cases()) {
        CAPTURE(c.who);
        Fixture f;
        auto attempt = f.engine.restrict_processing(acme, c.principal, ContactId{"c-42"}, true, "req-r");
        REQUIRE(attempt.has_value());
        CHECK(attempt->allowed() == c.allowed);
        CHECK(attempt->access.rule() == c.rule);
        CHECK(attempt->access.reason() == c.reason);

        const auto trail = f.trail();
        REQUIRE(trail.size() == 1);
        CHECK(trail[0].actor == audit::Actor::member(c.principal.user, c.principal.role));
        CHECK(trail[0].action == "restriction.apply");
        CHECK(trail[0].target_type == "contact");
        CHECK(trail[0].target_id == "c-42");
        CHECK(trail[0].outcome == c.reason);
        CHECK(trail[0].rule == c.rule);
        CHECK(trail[0].request_id == "req-r");
        CHECK(f.trail(globex).empty());

        auto stored = f.store.contacts().get(acme, ContactId{"c-42"});
        REQUIRE(stored.has_value());
        REQUIRE(stored->has_value());
        const Decision send = f.engine.check_send(acme, f.lead, MessageKind::utility_template);
        if (c.allowed) {
            REQUIRE(attempt->value.has_value());
            CHECK(attempt->value->restricted);
            CHECK((*stored)->restricted);
            CHECK(send.reason() == Reason::restricted);
        } else {
            CHECK_FALSE(attempt->value.has_value());
            CHECK_FALSE((*stored)->restricted);
            CHECK(send.allowed());
        }
    }
}

TEST_CASE("lifting a restriction is audited too, and a denied lift leaves the contact restricted") {
    Fixture f;
    REQUIRE(f.engine.restrict_processing(acme, f.manager, ContactId{"c-42"}, true).value().allowed());
    auto by_sales = f.engine.restrict_processing(acme, f.sales, ContactId{"c-42"}, false, "req-2");
    REQUIRE(by_sales.has_value());
    CHECK_FALSE(by_sales->allowed());
    CHECK(by_sales->access.notice().find("data-subject request") != std::string::npos);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).reason() == Reason::restricted);
    auto by_admin = f.engine.restrict_processing(acme, f.admin, ContactId{"c-42"}, false, "req-3");
    REQUIRE(by_admin.has_value());
    CHECK(by_admin->allowed());
    CHECK_FALSE(by_admin->value->restricted);
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());

    const auto trail = f.trail();
    REQUIRE(trail.size() == 3);
    CHECK(trail[0].action == "restriction.apply");
    CHECK(trail[1].action == "restriction.lift");
    CHECK(trail[1].outcome == Reason::not_authorized);
    CHECK(trail[2].action == "restriction.lift");
    CHECK(trail[2].allowed());

    SUBCASE("a contact that does not exist: a manager is denied, an admin is told it is not found") {
        auto manager = f.engine.restrict_processing(acme, f.manager, ContactId{"c-nobody"}, true);
        REQUIRE(manager.has_value());
        CHECK_FALSE(manager->allowed());  // no team to match: the request is not the manager's
        auto admin = f.engine.restrict_processing(acme, f.admin, ContactId{"c-nobody"}, true);
        REQUIRE_FALSE(admin.has_value());
        CHECK(admin.error() == storage::StorageErrc::not_found);
        CHECK(f.trail().size() == 5);  // both attempts were audited
    }
    SUBCASE("an empty tenant or contact id is refused before anything else") {
        CHECK(f.engine.restrict_processing(TenantId{}, f.admin, ContactId{"c-42"}, true).error() ==
              storage::StorageErrc::invalid_argument);
        CHECK(f.engine.restrict_processing(acme, f.admin, ContactId{}, true).error() ==
              storage::StorageErrc::invalid_argument);
        CHECK(f.engine.record_consent(f.admin, {TenantId{}, f.lead, storage::Purpose::marketing, true, start_time,
                                                "phone_call", {}})
                  .error() == storage::StorageErrc::invalid_argument);
        CHECK(f.trail().size() == 3);
    }
}

TEST_CASE("when the audit trail cannot be written, no consent is stored and no restriction changes") {
    Fixture f;
    f.store.failing = true;
    auto consent = f.engine.record_consent(f.admin, {acme, f.lead, storage::Purpose::marketing, true, start_time,
                                                     "phone_call", {}});
    REQUIRE_FALSE(consent.has_value());
    CHECK(consent.error() == storage::StorageErrc::unavailable);
    CHECK(stored_consents(f).empty());
    auto restriction = f.engine.restrict_processing(acme, f.admin, ContactId{"c-42"}, true);
    REQUIRE_FALSE(restriction.has_value());
    CHECK(restriction.error() == storage::StorageErrc::unavailable);
    CHECK_FALSE(f.store.contacts().get(acme, ContactId{"c-42"}).value()->restricted);
    f.store.failing = false;
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::utility_template).allowed());
    CHECK(f.engine.check_send(acme, f.lead, MessageKind::marketing_template).reason() == Reason::no_consent);
}
