// The transport port: Cloud API error classification and the recording test double.
#include <doctest/doctest.h>

#include <heroshhi/testing/recording_transport.hpp>

using namespace heroshhi;
using transport::classify_error;
using transport::Outcome;

TEST_CASE("Cloud API error codes map to what the sender must do next") {
    CHECK(classify_error(131047) == Outcome::window_closed);
    CHECK(classify_error(131050) == Outcome::marketing_opted_out);
    for (long c : {130429L, 131056L, 131049L, 80007L, 4L}) CHECK(classify_error(c) == Outcome::throttled);
    for (long c : {0L, 3L, 10L, 190L, 200L, 299L}) CHECK(classify_error(c) == Outcome::auth_error);
    for (long c : {1L, 2L, 131000L, 131016L, 133004L, 131057L}) CHECK(classify_error(c) == Outcome::temporary);
    for (long c : {131026L, 132000L, 132001L, 132012L, 132015L, 130403L, 131048L, 131064L, 368L, 999999L})
        CHECK(classify_error(c) == Outcome::rejected);
    CHECK(transport::to_string(Outcome::marketing_opted_out) == "marketing_opted_out");
}

TEST_CASE("the recording transport records messages and answers as scripted") {
    testing::RecordingTransport t;
    const PhoneNumber a = PhoneNumber::parse("+14155550101").value();
    const PhoneNumber b = PhoneNumber::parse("+14155550102").value();
    t.fail_with(b, 131050);
    transport::OutboundMessage m{a, messaging::MessageKind::free_form};
    m.text = "hello";
    auto ok = t.deliver(m);
    REQUIRE(ok.has_value());
    CHECK(ok->outcome == Outcome::accepted);
    CHECK(ok->provider_message_id == "wamid.test.1");
    auto refused = t.deliver(transport::OutboundMessage{b, messaging::MessageKind::marketing_template});
    REQUIRE(refused.has_value());
    CHECK(refused->outcome == Outcome::marketing_opted_out);
    CHECK(refused->error_code == 131050);
    REQUIRE(t.sent().size() == 2);
    CHECK(t.sent()[0].text == "hello");
}
