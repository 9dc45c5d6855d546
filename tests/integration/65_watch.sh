#!/usr/bin/env bash
# pgcdc watch in a real terminal (tmux, 160x40): the tutorial's 7 snapshot
# rows appear, then after the tutorial's changes the final table (8 rows,
# 1001 Sally Green, 1007 gone, 1008 and 1009 new), row by row on the screen;
# q exits 0 with the terminal given back (alternate screen left, cursor
# shown, stty settings as before).  A second run: a resize to 60x6 shows the
# first rows that fit, cut to 60 columns, and "8 rows, showing 3"; Ctrl-C
# exits just as cleanly.  Segments are small, so the watch follows the
# sink from one segment to the next.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
command -v tmux >/dev/null || t_fail "tmux is not installed (scripts/deps.sh installs it)"
t_setup
t_sql_file tests/fixtures/tutorial.sql
t_pgcdc_config tutorial "inventory.customers, public.shipments"
# Small segments: the changes go to a second segment, which watch follows.
sed -i 's/type = "jsonl";/type = "jsonl"; segment_bytes = 4096;/' "$T_CFG"
t_pgcdc_start
t_wait_for 30 "t_slot_active tutorial"

SOCK=$T_DIR/tmux.sock
tm() { tmux -S "$SOCK" -f /dev/null "$@"; }

# start_watch NAME: a tmux session running the watch, then reporting its
# exit status and whether the tty settings are what they were before.
start_watch() {
	tm new-session -d -s "$1" -x 160 -y 40 \
		"S=\$(stty -g); $(t_bin)/pgcdc watch -c $T_CFG inventory.customers 2>>$T_DIR/watch.log
		echo EXIT=\$?; [ \"\$(stty -g)\" = \"\$S\" ] && echo TTY=restored || echo TTY=changed
		sleep 600"
	t_track "$(tm display -p '#{pid}')"
}

screen() { tm capture-pane -p -t "$1"; }

# screen_is NAME FILE: the screen's rows and footer (from line 3 on, blank
# lines dropped, runs of spaces as one) are FILE's lines; prints a diff if not.
screen_is() {
	screen "$1" | sed -n '3,$p' | sed 's/  */ /g; s/^ //; s/ $//' | grep -v '^$' >"$T_DIR/got"
	diff "$2" "$T_DIR/got"
}

cat >"$T_DIR/snapshot" <<'EOF'
1001 Sally Thomas sally.thomas@acme.com false
1002 George Bailey gbailey@foobar.com false
1003 Edward Walker ed@walker.com false
1004 Anne Kretchmar annek@noanswer.org true
1005 Hugo Reyes hugo.reyes@example.com false
1006 Priya Nair priya.nair@example.com false
1007 Tom Baker tom.baker@example.com true
7 rows
EOF
cat >"$T_DIR/final" <<'EOF'
1001 Sally Green sally.thomas@acme.com false
1002 George Bailey gbailey@foobar.com false
1003 Edward Walker ed@walker.com false
1004 Anne Kretchmar annek@noanswer.org true
1005 Hugo Reyes hugo.reyes@example.com false
1006 Priya Nair priya.nair@example.com false
1008 Issac Fletcher ifletcher@example.com false
1009 Belle Read belle.read@example.com false
8 rows
EOF

start_watch one
t_wait_for 30 'screen_is one "$T_DIR/snapshot"'
screen one | sed -n 1p | grep -q "pgcdc watch inventory.customers .*key: id" ||
	t_fail "title line: $(screen one | sed -n 1p)"
[ "$(screen one | sed -n 2p | sed 's/  */ /g; s/ $//')" = "id first_name last_name email is_test_account" ] ||
	t_fail "header line: $(screen one | sed -n 2p)"
[ "$(tm display -p -t one '#{alternate_on} #{cursor_flag}')" = "1 0" ] ||
	t_fail "watch should use the alternate screen and hide the cursor"

t_sql_file tests/fixtures/tutorial-changes.sql
t_wait_for 30 'screen_is one "$T_DIR/final"'
[ "$(ls "$T_OUT/inventory.customers" | wc -l)" -ge 2 ] || t_fail "no second segment: $(ls "$T_OUT"/*)"

tm send-keys -t one q
t_wait_for 10 'screen one | grep -qx "EXIT=0"'
screen one | grep -qx "TTY=restored" || t_fail "q left the tty changed: $(screen one)"
[ "$(tm display -p -t one '#{alternate_on} #{cursor_flag}')" = "0 1" ] ||
	t_fail "after q: alternate screen / cursor not restored"

start_watch two
t_wait_for 30 'screen_is two "$T_DIR/final"'
tm resize-window -t two -x 60 -y 6
# Title, names, the first 3 rows (cut to fit: a '~' ends cut values), footer.
small_screen() {
	screen two | sed 's/  */ /g; s/^ //' >"$T_DIR/got"
	[ "$(wc -l <"$T_DIR/got")" = 6 ] && ! grep -q '.\{61\}' "$T_DIR/got" &&
		sed -n 3p "$T_DIR/got" | grep -q '^1001 Sally Green sally\.[a-z.@]*~ false$' &&
		sed -n 4p "$T_DIR/got" | grep -q '^1002 George Bailey gbailey@[a-z.]*~\? false$' &&
		sed -n 5p "$T_DIR/got" | grep -q '^1003 Edward Walker ed@walker.com false$' &&
		sed -n 6p "$T_DIR/got" | grep -q '^8 rows, showing 3$' || { cat "$T_DIR/got"; return 1; }
}
t_wait_for 10 small_screen
tm send-keys -t two C-c
t_wait_for 10 'screen two | grep -qx "EXIT=0"'
screen two | grep -qx "TTY=restored" || t_fail "Ctrl-C left the tty changed: $(screen two)"
[ "$(tm display -p -t two '#{alternate_on} #{cursor_flag}')" = "0 1" ] ||
	t_fail "after Ctrl-C: alternate screen / cursor not restored"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T_DIR/watch.log" ||
	t_fail "sanitizer report from pgcdc watch"
tm kill-server
t_pgcdc_stop
t_pass
