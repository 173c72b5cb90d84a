// Roles and permissions: the default matrix cell by cell (against the README's table), tenant
// isolation, deny precedence, explanations, policy documents and swapping policies at run time.
#include <doctest/doctest.h>

#include <heroshhi/core/errors.hpp>
#include <heroshhi/rbac/authorizer.hpp>
#include <heroshhi/rbac/policy.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::rbac;

namespace {

const TenantId acme{"acme"};
const TenantId globex{"globex"};

Principal member(Role role) { return Principal{UserId{"u-1"}, acme, role, "north"}; }

/// The four situations a condition can see: a resource of the principal's tenant that is none of
/// theirs, assigned to them, of their team, or their own user.
enum class Situation { unrelated, assigned, team, self };
constexpr Situation all_situations[] = {Situation::unrelated, Situation::assigned, Situation::team, Situation::self};

Resource resource(ResourceType type, Situation s, const TenantId& tenant = acme) {
    Resource r{type, tenant, "r-9"};
    r.assignee = UserId{"u-2"};
    r.team = "south";
    if (s == Situation::assigned) r.assignee = UserId{"u-1"};
    if (s == Situation::team) r.team = "north";
    if (s == Situation::self) r.id = "u-1";
    return r;
}

bool condition_holds(Condition c, Situation s) {
    switch (c) {
        case Condition::always: return true;
        case Condition::assigned_to_self: return s == Situation::assigned;
        case Condition::same_team: return s == Situation::team;
        case Condition::self: return s == Situation::self;
    }
    return false;
}

std::string trim(std::string s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep)) out.push_back(trim(item));
    return out;
}

/// What one cell of the README table allows: for each action, the conditions under which it is
/// allowed (Condition::always for unconditionally).
using Cell = std::map<Action, std::set<Condition>>;
using Table = std::map<std::pair<Role, ResourceType>, Cell>;

/// Reads a cell: "all", "all except a, b", "a, b (own team); c (their own)" or "—".
Cell parse_cell(const std::string& text) {
    Cell cell;
    if (text == "—") return cell;
    for (const std::string& clause : split(text, ';')) {
        std::string body = clause;
        Condition when = Condition::always;
        for (auto [suffix, condition] : {std::pair{"(own team)", Condition::same_team},
                                         std::pair{"(assigned to them)", Condition::assigned_to_self},
                                         std::pair{"(made by them)", Condition::assigned_to_self},
                                         std::pair{"(their own)", Condition::self}}) {
            const std::string s = suffix;
            if (body.size() > s.size() && body.compare(body.size() - s.size(), s.size(), s) == 0) {
                body = trim(body.substr(0, body.size() - s.size()));
                when = condition;
            }
        }
        std::set<Action> actions;
        if (body == "all" || body.rfind("all except ", 0) == 0) {
            actions.insert(all_actions.begin(), all_actions.end());
            if (body != "all")
                for (const std::string& name : split(body.substr(11), ',')) {
                    auto a = action_from_string(name);
                    REQUIRE_MESSAGE(a.has_value(), "README table: unknown action '" << name << "'");
                    actions.erase(*a);
                }
        } else {
            for (std::string name : split(body, ',')) {
                if (name.size() > 2 && name.front() == '`' && name.back() == '`') name = name.substr(1, name.size() - 2);
                auto a = action_from_string(name);
                REQUIRE_MESSAGE(a.has_value(), "README table: unknown action '" << name << "' in '" << text << "'");
                actions.insert(*a);
            }
        }
        for (Action a : actions) cell[a].insert(when);
    }
    return cell;
}

/// The table under "## Roles and permissions" in README.md.
Table readme_table() {
    const auto readme = std::filesystem::path(HEROSHHI_TEST_DATA_DIR).parent_path().parent_path() / "README.md";
    std::ifstream in(readme);
    REQUIRE_MESSAGE(in.good(), readme.string());
    std::string line;
    bool in_section = false;
    std::vector<Role> columns;
    Table table;
    while (std::getline(in, line)) {
        if (line.rfind("## ", 0) == 0) in_section = line == "## Roles and permissions";
        if (!in_section || line.rfind("|", 0) != 0) continue;
        auto cells = split(line.substr(1, line.size() - 2), '|');
        if (cells.empty()) continue;
        if (cells[0] == "resource type") {
            for (std::size_t i = 1; i < cells.size(); ++i) {
                auto role = role_from_string(cells[i]);
                REQUIRE_MESSAGE(role.has_value(), "README table header: '" << cells[i] << "'");
                columns.push_back(*role);
            }
            continue;
        }
        if (cells[0].size() < 3 || cells[0].front() != '`') continue;
        auto type = resource_type_from_string(cells[0].substr(1, cells[0].size() - 2));
        REQUIRE_MESSAGE(type.has_value(), "README table row: '" << cells[0] << "'");
        REQUIRE(cells.size() == columns.size() + 1);
        for (std::size_t i = 0; i < columns.size(); ++i) table[{columns[i], *type}] = parse_cell(cells[i + 1]);
    }
    REQUIRE(columns.size() == role_count);
    REQUIRE(table.size() == role_count * resource_type_count);
    return table;
}

}  // namespace

TEST_CASE("the default matrix allows exactly what the README table says, cell by cell") {
    const Table table = readme_table();
    const Authorizer authz;
    std::size_t checked = 0, allowed_cells = 0;
    for (Role role : all_roles)
        for (ResourceType type : all_resource_types)
            for (Action action : all_actions)
                for (Situation s : all_situations) {
                    const Cell& cell = table.at({role, type});
                    bool expected = false;
                    if (auto it = cell.find(action); it != cell.end())
                        for (Condition c : it->second) expected = expected || condition_holds(c, s);
                    const AccessDecision d = authz.check(member(role), action, resource(type, s));
                    CAPTURE(to_string(role));
                    CAPTURE(to_string(type));
                    CAPTURE(to_string(action));
                    CAPTURE(static_cast<int>(s));
                    CAPTURE(d.explain());
                    CHECK(d.allowed() == expected);
                    CHECK(d.reason() == (expected ? Reason::allowed : Reason::not_authorized));
                    CHECK_FALSE(d.rule().empty());
                    CHECK(d.revision() == "builtin-2");
                    ++checked;
                    allowed_cells += expected;
                }
    CHECK(checked == role_count * resource_type_count * action_count * 4);
    CHECK(allowed_cells > 0);
}

TEST_CASE("an owner may manage billing, terminate the account and transfer ownership; an admin may not") {
    const Authorizer authz;
    const Resource billing{ResourceType::billing, acme};
    const Resource account{ResourceType::account, acme};
    CHECK(authz.check(member(Role::owner), Action::manage, billing).allowed());
    CHECK(authz.check(member(Role::owner), Action::read, billing).allowed());
    CHECK(authz.check(member(Role::owner), Action::terminate_account, account).allowed());
    CHECK(authz.check(member(Role::owner), Action::transfer_ownership, account).allowed());

    const AccessDecision admin_billing = authz.check(member(Role::admin), Action::read, billing);
    CHECK_FALSE(admin_billing.allowed());
    CHECK(admin_billing.rule() == "admin.no_billing");
    CHECK(authz.check(member(Role::admin), Action::terminate_account, account).rule() ==
          "admin.no_termination_or_transfer");
    CHECK_FALSE(authz.check(member(Role::admin), Action::transfer_ownership, account).allowed());
    // Everything else in the tenant is the admin's.
    for (ResourceType t : {ResourceType::user, ResourceType::role_assignment, ResourceType::settings,
                           ResourceType::integration, ResourceType::retention_policy, ResourceType::lead})
        CHECK(authz.check(member(Role::admin), Action::manage, Resource{t, acme}).allowed());
    CHECK(authz.check(member(Role::admin), Action::bulk_delete, Resource{ResourceType::lead, acme}).allowed());
}

TEST_CASE("a manager works and exports only the leads of their team, and manages no users or billing") {
    const Authorizer authz;
    const Principal manager = member(Role::manager);
    Resource team_lead{ResourceType::lead, acme, "c-1"};
    team_lead.team = "north";
    Resource other_lead{ResourceType::lead, acme, "c-2"};
    other_lead.team = "south";
    for (Action a : {Action::read, Action::update, Action::send, Action::assign, Action::export_})
        CHECK(authz.check(manager, a, team_lead).allowed());
    for (Action a : {Action::read, Action::update, Action::export_})
        CHECK_FALSE(authz.check(manager, a, other_lead).allowed());
    CHECK_FALSE(authz.check(manager, Action::bulk_delete, team_lead).allowed());

    Resource team_member{ResourceType::user, acme, "u-5"};
    team_member.team = "north";
    CHECK(authz.check(manager, Action::read, team_member).allowed());
    CHECK(authz.check(manager, Action::update, team_member).rule() == "manager.no_user_or_billing_management");
    CHECK_FALSE(authz.check(manager, Action::manage, Resource{ResourceType::role_assignment, acme}).allowed());
    CHECK_FALSE(authz.check(manager, Action::read, Resource{ResourceType::billing, acme}).allowed());

    Resource activity{ResourceType::audit_log, acme};
    activity.team = "north";
    CHECK(authz.check(manager, Action::read, activity).allowed());
    activity.team = "south";
    CHECK_FALSE(authz.check(manager, Action::read, activity).allowed());

    SUBCASE("a manager without a team reaches no team's leads") {
        Principal teamless{UserId{"u-1"}, acme, Role::manager};
        Resource teamless_lead{ResourceType::lead, acme, "c-3"};
        CHECK_FALSE(authz.check(teamless, Action::read, teamless_lead).allowed());
    }
}

TEST_CASE("a sales user reads, updates and messages only assigned leads, and never bulk-deletes, exports or runs "
          "campaigns") {
    const Authorizer authz;
    const Principal sales = member(Role::sales);
    Resource mine{ResourceType::lead, acme, "c-1"};
    mine.assignee = UserId{"u-1"};
    Resource theirs{ResourceType::lead, acme, "c-2"};
    theirs.assignee = UserId{"u-2"};
    Resource unassigned{ResourceType::lead, acme, "c-3"};
    for (Action a : {Action::read, Action::update, Action::send}) {
        CHECK(authz.check(sales, a, mine).allowed());
        CHECK_FALSE(authz.check(sales, a, theirs).allowed());
        CHECK_FALSE(authz.check(sales, a, unassigned).allowed());
    }
    CHECK(authz.check(sales, Action::read, theirs).notice() ==
          "Not allowed: a sales user may not see this lead unless it is assigned to them.");
    for (Action a : {Action::delete_, Action::assign, Action::create})
        CHECK_FALSE(authz.check(sales, a, mine).allowed());
    CHECK(authz.check(sales, Action::bulk_delete, mine).rule() == "sales.no_bulk_delete_or_export");
    CHECK(authz.check(sales, Action::export_, mine).rule() == "sales.no_bulk_delete_or_export");
    Resource campaign{ResourceType::campaign, acme};
    campaign.assignee = UserId{"u-1"};
    for (Action a : all_actions) CHECK_FALSE(authz.check(sales, a, campaign).allowed());
    CHECK(authz.check(sales, Action::export_, mine).notice() == "Not allowed: a sales user may not export this lead.");
}

TEST_CASE("no role reaches another tenant's resource, for any action, resource type or policy") {
    // A policy that allows everything to everyone, unconditionally: tenant isolation still holds.
    Rule everything{"everything", Effect::allow, {all_roles.begin(), all_roles.end()},
                    {all_resource_types.begin(), all_resource_types.end()}, {all_actions.begin(), all_actions.end()}};
    const Policy permissive = Policy::create("permissive", {everything}).value();
    std::size_t allows = 0, decisions = 0;
    for (const Policy* policy : {&Policy::defaults(), &permissive}) {
        const Authorizer authz(*policy);
        for (Role role : all_roles)
            for (Action action : all_actions)
                for (ResourceType type : all_resource_types)
                    for (Situation s : all_situations)
                        for (const TenantId* foreign : {&globex, static_cast<const TenantId*>(nullptr)}) {
                            const Resource r = resource(type, s, foreign ? *foreign : TenantId{});
                            const AccessDecision d = authz.check(member(role), action, r);
                            allows += d.allowed();
                            ++decisions;
                            if (d.reason() != Reason::cross_tenant) FAIL_CHECK(d.explain());
                            if (d.rule() != tenant_isolation_rule) FAIL_CHECK(d.rule());
                        }
    }
    CHECK(decisions == 2 * role_count * action_count * resource_type_count * 4 * 2);
    CHECK(allows == 0);

    SUBCASE("nor does a principal without a tenant reach a resource without one") {
        const Authorizer authz(permissive);
        const Principal nowhere{UserId{"u-1"}, TenantId{}, Role::owner};
        CHECK(authz.check(nowhere, Action::read, Resource{ResourceType::lead, TenantId{}}).reason() ==
              Reason::cross_tenant);
    }
    SUBCASE("the denial says so in words") {
        const Authorizer authz;
        const AccessDecision d = authz.check(member(Role::owner), Action::read, Resource{ResourceType::lead, globex});
        CHECK(d.notice() == "Not allowed: this lead belongs to another workspace.");
        CHECK(d.explain().find("tenant.isolation") != std::string::npos);
        const Decision core = d.to_decision();
        CHECK(core.reason() == Reason::cross_tenant);
        CHECK(core.rule() == "tenant.isolation");
    }
}

TEST_CASE("an explicit deny beats any allow, whatever the order of the rules") {
    const Rule allow{"sales.export", Effect::allow, {Role::sales}, {ResourceType::lead}, {Action::export_}};
    const Rule deny{"sales.never_export", Effect::deny, {Role::sales}, {ResourceType::lead}, {Action::export_}};
    const Resource lead{ResourceType::lead, acme};
    for (auto rules : {std::vector<Rule>{allow, deny}, std::vector<Rule>{deny, allow}}) {
        const Authorizer authz(Policy::create("r", rules).value());
        const AccessDecision d = authz.check(member(Role::sales), Action::export_, lead);
        CHECK_FALSE(d.allowed());
        CHECK(d.rule() == "sales.never_export");
        CHECK(d.explain().rfind("denied by rule 'sales.never_export'", 0) == 0);
    }
    SUBCASE("a deny whose condition does not hold does not deny") {
        Rule conditional = deny;
        conditional.when = Condition::same_team;
        const Authorizer authz(Policy::create("r", {conditional, allow}).value());
        CHECK(authz.check(member(Role::sales), Action::export_, lead).rule() == "sales.export");
    }
}

TEST_CASE("deny is the default: without a rule that allows, nothing is allowed") {
    const Authorizer empty(Policy::create("empty", {}).value());
    for (Role role : all_roles)
        for (Action action : all_actions)
            for (ResourceType type : all_resource_types) {
                const AccessDecision d = empty.check(member(role), action, Resource{type, acme});
                CHECK_FALSE(d.allowed());
                CHECK(d.rule() == default_deny_rule);
                CHECK(d.deciding_rule() == nullptr);
            }
    SUBCASE("and a principal without a user id is nobody, even as owner") {
        const Authorizer authz;
        const Principal nobody{UserId{}, acme, Role::owner};
        CHECK_FALSE(authz.check(nobody, Action::read, Resource{ResourceType::lead, acme}).allowed());
    }
}

TEST_CASE("explain names the deciding rule, or says that no rule allows") {
    const Authorizer authz;
    Resource lead{ResourceType::lead, acme, "c-1"};
    lead.assignee = UserId{"u-1"};
    CHECK(authz.explain(member(Role::sales), Action::read, lead) ==
          "allowed by rule 'sales.assigned_leads': Sales users read, update and message the leads assigned to them. "
          "(policy revision 'builtin-2')");
    CHECK(authz.explain(member(Role::admin), Action::manage, Resource{ResourceType::billing, acme}) ==
          "denied by rule 'admin.no_billing': Billing is the owner's alone. A deny rule beats every allow. "
          "(policy revision 'builtin-2')");
    lead.assignee = UserId{"u-2"};
    CHECK(authz.explain(member(Role::sales), Action::update, lead) ==
          "no rule allows a sales user to update lead; rule 'sales.assigned_leads' would allow it when the resource "
          "is assigned to the principal (policy revision 'builtin-2')");
    CHECK(authz.explain(member(Role::manager), Action::manage, Resource{ResourceType::settings, acme}) ==
          "no rule allows a manager to manage settings (policy revision 'builtin-2')");
    const Decision d = authz.check(member(Role::sales), Action::update, lead).to_decision();
    CHECK(d.reason() == Reason::not_authorized);
    CHECK(d.rule() == "default.deny");
    CHECK(d.notice() == "Not allowed: a sales user may not change this lead unless it is assigned to them.");
}

TEST_CASE("a policy document round-trips through JSON and decides as before") {
    const std::string text = Policy::defaults().to_json();
    auto again = Policy::from_json(text);
    REQUIRE_MESSAGE(again.has_value(), (again ? "" : again.error().message()));
    CHECK(again->revision() == "builtin-2");
    REQUIRE(again->rules().size() == Policy::defaults().rules().size());
    CHECK(again->to_json() == text);
    for (Role role : all_roles)
        for (ResourceType type : all_resource_types)
            for (Action action : all_actions)
                for (Situation s : all_situations) {
                    const Resource r = resource(type, s);
                    const Evaluation a = Policy::defaults().evaluate(member(role), action, r);
                    const Evaluation b = again->evaluate(member(role), action, r);
                    CHECK((a.reason == b.reason && a.rule == b.rule));
                }
    CHECK(text.find("\"resources\": [\n        \"*\"\n      ]") != std::string::npos);  // "every" is written as "*"
}

TEST_CASE("a host's own policy is read from JSON") {
    auto policy = Policy::from_json(R"({
        "revision": "acme-7",
        "rules": [
          {"name": "sales.assigned_leads", "effect": "allow", "roles": ["sales"],
           "resources": ["lead", "contact"], "actions": ["read", "update", "send", "create"],
           "when": "assigned_to_self", "description": "Sales also create leads for themselves."},
          {"name": "owner.everything", "effect": "allow", "roles": ["owner"], "resources": ["*"], "actions": ["*"]}
        ]})");
    REQUIRE_MESSAGE(policy.has_value(), (policy ? "" : policy.error().message()));
    const Authorizer authz(std::move(policy).value());
    Resource lead{ResourceType::lead, acme, "c-1"};
    lead.assignee = UserId{"u-1"};
    const AccessDecision d = authz.check(member(Role::sales), Action::create, lead);
    CHECK(d.allowed());
    CHECK(d.revision() == "acme-7");
    CHECK(d.rule() == "sales.assigned_leads");
    CHECK_FALSE(authz.check(member(Role::admin), Action::read, lead).allowed());
}

TEST_CASE("policy JSON errors say where and what is wrong") {
    struct Bad {
        const char* what;
        ConfigErrc code;
        const char* detail;  // a part of the error's detail
    };
    const char* rule_head = R"({"revision": "r1", "rules": [{"name": "x", "effect": "allow", )";
    auto rule_doc = [&](const char* rest) { return std::string(rule_head) + rest + "}]}"; };
    const std::vector<std::pair<std::string, Bad>> cases = {
        {"{\"revision\": ", {"not JSON", ConfigErrc::malformed, "not valid JSON"}},
        {"[]", {"not an object", ConfigErrc::malformed, "must be a JSON object"}},
        {R"({"rules": []})", {"no revision", ConfigErrc::missing, "\"revision\" is missing"}},
        {R"({"revision": "r1"})", {"no rules", ConfigErrc::missing, "\"rules\" is missing"}},
        {R"({"revision": "r1", "rules": [], "extra": 1})", {"unknown top-level key", ConfigErrc::invalid_value,
                                                            "unknown key \"extra\""}},
        {rule_doc(R"("roles": ["salesman"], "resources": ["lead"], "actions": ["read"])"),
         {"unknown role", ConfigErrc::invalid_value, "rules[0].roles[0]: unknown role \"salesman\""}},
        {rule_doc(R"("roles": ["sales"], "resources": ["lead"], "actions": ["read", "delet"])"),
         {"unknown action", ConfigErrc::invalid_value, "rules[0].actions[1]: unknown action \"delet\" (known: read,"}},
        {rule_doc(R"("roles": ["sales"], "resources": ["leads"], "actions": ["read"])"),
         {"unknown resource type", ConfigErrc::invalid_value, "rules[0].resources[0]: unknown resource type \"leads\""}},
        {rule_doc(R"("roles": ["sales"], "resources": ["lead"], "actions": ["read"], "when": "weekdays")"),
         {"unknown condition", ConfigErrc::invalid_value, "rules[0].when: unknown condition \"weekdays\""}},
        {rule_doc(R"("roles": ["sales"], "resources": ["lead"], "actions": ["read"], "rolez": [])"),
         {"unknown rule key", ConfigErrc::invalid_value, "rules[0]: unknown key \"rolez\""}},
        {rule_doc(R"("roles": ["sales"], "resources": ["lead"])"),
         {"no actions", ConfigErrc::missing, "rules[0]: \"actions\" is missing"}},
        {rule_doc(R"("roles": ["sales"], "resources": ["lead"], "actions": [])"),
         {"empty actions", ConfigErrc::invalid_value, "rules[0].actions: names no action"}},
        {rule_doc(R"("roles": "sales", "resources": ["lead"], "actions": ["read"])"),
         {"a string for a list", ConfigErrc::malformed, "rules[0].roles: expected an array of role names"}},
        {rule_doc(R"("roles": ["*", "sales"], "resources": ["lead"], "actions": ["read"])"),
         {"* with others", ConfigErrc::invalid_value, "rules[0].roles[0]: \"*\" means every role"}},
        {R"({"revision": "r1", "rules": [{"name": "x", "effect": "permit", "roles": ["sales"], "resources": ["lead"],
             "actions": ["read"]}]})",
         {"unknown effect", ConfigErrc::invalid_value, "rules[0].effect: unknown effect \"permit\""}},
        {R"({"revision": "r1", "rules": [
             {"name": "a", "effect": "allow", "roles": ["sales"], "resources": ["lead"], "actions": ["read"]},
             {"name": "a", "effect": "deny", "roles": ["sales"], "resources": ["lead"], "actions": ["read"]}]})",
         {"duplicate name", ConfigErrc::invalid_value, "rules[1] (\"a\"): another rule has the same name"}},
        {R"({"revision": "r1", "rules": [{"name": "tenant.isolation", "effect": "allow", "roles": ["sales"],
             "resources": ["lead"], "actions": ["read"]}]})",
         {"reserved name", ConfigErrc::invalid_value, "reserved for a built-in rule"}},
        {R"({"revision": "r1", "rules": [{"name": "Sales Rule", "effect": "allow", "roles": ["sales"],
             "resources": ["lead"], "actions": ["read"]}]})",
         {"bad name", ConfigErrc::invalid_value, "rules[0]"}},
        {R"({"revision": "", "rules": []})", {"empty revision", ConfigErrc::invalid_value, "policy revision"}},
    };
    for (const auto& item : cases) {
        const std::string& doc = item.first;
        const Bad& bad = item.second;
        CAPTURE(bad.what);
        auto policy = Policy::from_json(doc);
        REQUIRE_FALSE(policy.has_value());
        CHECK(policy.error() == bad.code);
        CAPTURE(policy.error().message());
        CHECK(policy.error().detail().find(bad.detail) != std::string::npos);
    }
    SUBCASE("a policy built in code is validated the same way") {
        Rule nameless{"", Effect::allow, {Role::sales}, {ResourceType::lead}, {Action::read}};
        CHECK(Policy::create("r", {nameless}).error() == ConfigErrc::invalid_value);
        Rule no_roles{"x", Effect::allow, {}, {ResourceType::lead}, {Action::read}};
        CHECK(Policy::create("r", {no_roles}).error().detail() == "rules[0] (\"x\"): the rule names no role");
        Rule out_of_range{"x", Effect::allow, {static_cast<Role>(9)}, {ResourceType::lead}, {Action::read}};
        CHECK(Policy::create("r", {out_of_range}).error() == ConfigErrc::invalid_value);
    }
}

TEST_CASE("a policy installed at run time decides later checks, and earlier decisions keep their snapshot") {
    Authorizer authz;
    const Resource lead{ResourceType::lead, acme, "c-1"};
    const AccessDecision before = authz.check(member(Role::admin), Action::read, lead);
    CHECK(before.allowed());
    authz.install(Policy::create("locked-down", {}).value());
    const AccessDecision after = authz.check(member(Role::admin), Action::read, lead);
    CHECK_FALSE(after.allowed());
    CHECK(after.revision() == "locked-down");
    // The first decision still names the rule and revision it was decided under.
    CHECK(before.revision() == "builtin-2");
    CHECK(before.rule() == "admin.everything");
    CHECK(authz.policy()->revision() == "locked-down");
}

TEST_CASE("checks run on a consistent snapshot while another thread swaps policies") {
    const Rule allow_export{"sales.export", Effect::allow, {Role::sales}, {ResourceType::lead}, {Action::export_}};
    const Policy open = Policy::create("open", {allow_export}).value();
    const Policy closed = Policy::create("closed", {}).value();
    Authorizer authz(open);
    const Resource lead{ResourceType::lead, acme, "c-1"};
    std::atomic<bool> stop{false};
    std::atomic<long> inconsistent{0}, seen_open{0}, seen_closed{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t)
        readers.emplace_back([&] {
            const Principal sales = member(Role::sales);
            while (!stop.load()) {
                const AccessDecision d = authz.check(sales, Action::export_, lead);
                const bool is_open = d.revision() == "open";
                (is_open ? seen_open : seen_closed)++;
                if (d.allowed() != is_open || (is_open && d.rule() != "sales.export")) ++inconsistent;
            }
        });
    for (int i = 0; i < 2000; ++i) authz.install(i % 2 ? open : closed);
    while (seen_open.load() == 0 || seen_closed.load() == 0) authz.install(seen_open.load() ? closed : open);
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(inconsistent == 0);
}
