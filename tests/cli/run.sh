#!/usr/bin/env bash
# Drives the `heroshhi` command-line program as an operator would and compares its output exactly.
# Usage: HEROSHHI_BIN=/path/to/heroshhi bash tests/cli/run.sh   (ctest sets HEROSHHI_BIN)
set -u

bin="${HEROSHHI_BIN:?set HEROSHHI_BIN to the heroshhi binary}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

# expect NAME EXPECTED_FILE ACTUAL_FILE: report a diff when they differ.
expect() {
    if diff -u "$2" "$3" >"$work/diff"; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        cat "$work/diff"
        failures=$((failures + 1))
    fi
}

# expect_code NAME WANT GOT
expect_code() {
    if [ "$2" -eq "$3" ]; then
        echo "ok   $1 (exit $3)"
    else
        echo "FAIL $1: exit code $3, expected $2"
        failures=$((failures + 1))
    fi
}

# --- classify with the default keywords -----------------------------------------------------------
# Input: one message per line; the two characters \n inside a line stand for a newline.
printf '%s\n' \
    'STOP' \
    'Stop.' \
    ' stop!!\n' \
    'ＳＴＯＰ' \
    'Stop 🛑' \
    'opt-out' \
    'stop by tomorrow' \
    'We have got to STOP this terrible bill from passing!!' \
    'Stop. Thank you' \
    'START' \
    'yes' \
    'HELP' \
    'parar' \
    'ARRÊT' \
    'Detener' \
    'hilfe' \
    'please stop messaging me' \
    'band karo' \
    'hello\nSTOP' \
    '' \
    >"$work/messages.txt"
# a line that is not UTF-8
printf 'STOP\x80\n' >>"$work/messages.txt"

{
    printf 'opt-out\tSTOP\ten\n'
    printf 'opt-out\tSTOP\ten\n'
    printf 'opt-out\tSTOP\ten\n'
    printf 'opt-out\tSTOP\ten\n'
    printf 'opt-out\tSTOP\ten\n'
    printf 'opt-out\tOPT OUT\ten\n'
    printf 'none\t\t\n'
    printf 'none\t\t\n'
    printf 'none\t\t\n'
    printf 'opt-in\tSTART\ten\n'
    printf 'opt-in\tYES\ten\n'
    printf 'help\tHELP\ten\n'
    printf 'opt-out\tPARAR\tpt\n'
    printf 'opt-out\tARRET\tfr\n'
    printf 'opt-out\tDETENER\tes\n'
    printf 'help\tHILFE\tde\n'
    printf 'opt-out\tSTOP MESSAGING ME\ten\n'
    printf 'none\t\t\n'
    printf 'none\t\t\n'
    printf 'none\t\t\n'
    printf 'none\t\t\n'
} >"$work/expected-default.txt"

"$bin" classify <"$work/messages.txt" >"$work/actual-default.txt" 2>"$work/stderr.txt"
expect_code "classify (defaults)" 0 $?
expect "classify (defaults) output" "$work/expected-default.txt" "$work/actual-default.txt"

# --- classify with a tenant configuration ------------------------------------------------------------
cat >"$work/tenant.json" <<'EOF'
{
  "add": {"opt-out": [{"keyword": "BASTA", "language": "it"}], "help": ["SOCORRO"]},
  "remove": ["CANCEL"],
  "languages": ["hi"],
  "request_phrases": false
}
EOF
printf '%s\n' 'basta!' 'CANCEL' 'END' 'band karo' 'बंद करो 🙏' 'Socorro' 'please stop messaging me' 'STOP' \
    >"$work/tenant-messages.txt"
{
    printf 'opt-out\tBASTA\tit\n'
    printf 'none\t\t\n'
    printf 'opt-out\tEND\ten\n'
    printf 'opt-out\tBAND KARO\thi\n'
    printf 'opt-out\tबंद करो\thi\n'
    printf 'help\tSOCORRO\t\n'
    printf 'none\t\t\n'
    printf 'opt-out\tSTOP\ten\n'
} >"$work/expected-tenant.txt"

"$bin" classify --tenant-config "$work/tenant.json" <"$work/tenant-messages.txt" >"$work/actual-tenant.txt"
expect_code "classify (tenant config)" 0 $?
expect "classify (tenant config) output" "$work/expected-tenant.txt" "$work/actual-tenant.txt"

# --- classify with bad configurations: exit 2, the problem named on stderr, nothing on stdout -------
check_bad_config() {  # NAME FILE NEEDLE
    "$bin" classify --tenant-config "$2" </dev/null >"$work/bad-out.txt" 2>"$work/bad-err.txt"
    expect_code "$1" 2 $?
    if grep -qF -- "$3" "$work/bad-err.txt" && [ ! -s "$work/bad-out.txt" ]; then
        echo "ok   $1 message"
    else
        echo "FAIL $1: stderr does not mention '$3' (or stdout is not empty):"
        cat "$work/bad-err.txt" "$work/bad-out.txt"
        failures=$((failures + 1))
    fi
}
printf '{"add": {"opt-out": ["X"]}, "colour": "red"}\n' >"$work/unknown-key.json"
check_bad_config "bad config: unknown key" "$work/unknown-key.json" "unknown key 'colour'"
printf '{"remove": ["STOP"]}\n' >"$work/remove-stop.json"
check_bad_config "bad config: removing STOP" "$work/remove-stop.json" "cannot be removed"
printf '{"add": ' >"$work/truncated.json"
check_bad_config "bad config: not JSON" "$work/truncated.json" "not valid JSON"
check_bad_config "bad config: missing file" "$work/does-not-exist.json" "cannot read"

# --- normalize-phone --------------------------------------------------------------------------------
printf '%s\n' '+14155552671' '14155552671' '+44 (0)20 7946 0958' '+1 415 555 2671 ext. 12' '(415) 555-2671' '' 'call me' \
    >"$work/phones.txt"
{
    printf '+14155552671\n'
    printf '+14155552671\n'
    printf '+442079460958\n'
    printf '+14155552671\n'
    printf 'error\theroshhi.phone: no valid country calling code: a national number needs a default region (or write it with '"'"'+'"'"' and the country code)\n'
    printf 'error\theroshhi.phone: empty phone number: no number given\n'
    printf 'error\theroshhi.phone: phone number contains an invalid character: '"'"'c'"'"' at byte 0 is not part of a phone number\n'
} >"$work/expected-phones.txt"
"$bin" normalize-phone <"$work/phones.txt" >"$work/actual-phones.txt"
expect_code "normalize-phone" 0 $?
expect "normalize-phone output" "$work/expected-phones.txt" "$work/actual-phones.txt"

printf '%s\n' '020 7946 0958' '+1 (415) 555-2671' >"$work/gb-phones.txt"
printf '+442079460958\n+14155552671\n' >"$work/expected-gb.txt"
"$bin" normalize-phone --region GB <"$work/gb-phones.txt" >"$work/actual-gb.txt"
expect_code "normalize-phone --region GB" 0 $?
expect "normalize-phone --region GB output" "$work/expected-gb.txt" "$work/actual-gb.txt"

"$bin" normalize-phone --region XX </dev/null >/dev/null 2>"$work/region-err.txt"
expect_code "normalize-phone --region XX" 2 $?

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all CLI checks passed"
