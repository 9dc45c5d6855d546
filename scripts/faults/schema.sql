-- Fault campaign workload (tests/faults/10_campaign.sh).  Every committed
-- transaction of the workload ends with one audit row (seq from audit_seq,
-- the writer, the number of row changes it made), so a sink's audit rows
-- say which transactions it received.  Kinds of transaction, after what
-- PostgreSQL's own logical replication tests exercise:
--   multi-row inserts; multi-table transactions; primary key updates;
--   deletes; TRUNCATE + refill; plpgsql subtransactions rolled back
--   (EXCEPTION blocks); whole transactions rolled back (no audit row);
--   large transactions that spill (logical_decoding_work_mem = 64kB);
--   TOAST values changed, and rows updated leaving them unchanged;
--   a REPLICA IDENTITY FULL table without a key.
-- Column types are plain (int, bigint, text) so that a sink's rendering
-- compares with the source's row_to_json as is.
CREATE SEQUENCE audit_seq;
CREATE TABLE audit (seq bigint PRIMARY KEY, writer int NOT NULL, n int NOT NULL);
CREATE TABLE items (id bigint PRIMARY KEY, w int NOT NULL, qty int NOT NULL, note text);
CREATE TABLE orders (id bigint PRIMARY KEY, item bigint NOT NULL, amount int NOT NULL);
CREATE TABLE docs (id int PRIMARY KEY, rev int NOT NULL, body text NOT NULL);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;	-- out of line, uncompressed
CREATE TABLE nokey (w int NOT NULL, k int NOT NULL, v text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE TABLE tr (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE ctl (stop boolean NOT NULL);
INSERT INTO ctl VALUES (false);
-- Big values: 8 kB of hex from the writer's counter, never the same twice.
CREATE FUNCTION big(seed bigint) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT string_agg(md5((seed * 1000 + g)::text), '') FROM generate_series(1, 256) g $$;
INSERT INTO docs SELECT w * 100 + i, 0, big(w * 100 + i) FROM generate_series(0, 3) w, generate_series(1, 5) i;

CREATE FUNCTION audit_row(wr int, n int) RETURNS void LANGUAGE sql AS
  $$ INSERT INTO audit VALUES (nextval('audit_seq'), wr, n) $$;

CREATE SEQUENCE idblk;	-- a block of 10,000 ids per transaction, never reused

-- One writer: transactions of random kinds until ctl.stop.  Rows carry
-- their writer (wr), so writers never touch each other's rows.
CREATE PROCEDURE work(wr int, pace_ms int, big_every int) LANGUAGE plpgsql AS $$
DECLARE
  c bigint;
  kind int;
  n int;
  x bigint;
BEGIN
  LOOP
    EXIT WHEN (SELECT stop FROM ctl);
    kind := floor(random() * 11)::int;
    IF big_every > 0 AND random() * big_every < 1 THEN kind := 99; END IF;
    n := 0;
    c := nextval('idblk') * 10000;
    IF kind = 0 THEN		-- multi-row insert
      INSERT INTO items SELECT c + g, wr, g, 'row' FROM generate_series(1, 5) g;
      n := 5;
    ELSIF kind = 1 THEN		-- multi-table
      INSERT INTO items VALUES (c, wr, 1, 'ordered');
      INSERT INTO orders VALUES (c, c, 10);
      UPDATE items SET qty = qty - 1 WHERE id = c;
      n := 3;
    ELSIF kind = 2 THEN		-- primary key update (to the negative id)
      SELECT id INTO x FROM items WHERE w = wr AND id > 0 ORDER BY id DESC LIMIT 1;
      IF x IS NOT NULL THEN
        UPDATE items SET id = -x, note = 'moved' WHERE id = x;
        n := 1;
      END IF;
    ELSIF kind = 3 THEN		-- deletes
      DELETE FROM items WHERE id IN (SELECT id FROM items WHERE w = wr ORDER BY id LIMIT 3);
      GET DIAGNOSTICS n = ROW_COUNT;
      DELETE FROM orders WHERE id IN (SELECT o.id FROM orders o JOIN items i ON i.id = o.item
        WHERE i.w = wr ORDER BY o.id LIMIT 1);
      GET DIAGNOSTICS x = ROW_COUNT;
      n := n + x;
    ELSIF kind = 4 THEN		-- TRUNCATE and refill
      TRUNCATE tr;
      INSERT INTO tr SELECT g, 'w' || wr || ' c' || c FROM generate_series(1, 3) g;
      n := 4;
    ELSIF kind = 5 THEN		-- a subtransaction rolled back in the middle
      INSERT INTO items VALUES (c, wr, 1, 'kept');
      BEGIN
        INSERT INTO items VALUES (c + 1, wr, 1, 'rolled back');
        UPDATE items SET note = 'rolled back too' WHERE id = c;
        RAISE EXCEPTION 'roll back to the savepoint';
      EXCEPTION WHEN raise_exception THEN NULL;
      END;
      INSERT INTO items VALUES (c + 2, wr, 2, 'kept too');
      n := 2;
    ELSIF kind = 6 THEN		-- TOAST value changed
      UPDATE docs SET rev = rev + 1, body = big(c) WHERE id = wr * 100 + 1 + (c / 10000 % 5);
      n := 1;
    ELSIF kind = 7 THEN		-- TOAST value left unchanged
      UPDATE docs SET rev = rev + 1 WHERE id = wr * 100 + 1 + (c / 10000 % 5);
      n := 1;
    ELSIF kind = 8 THEN		-- REPLICA IDENTITY FULL, no key
      INSERT INTO nokey VALUES (wr, c, 'new');
      UPDATE nokey SET v = 'upd ' || c WHERE w = wr AND k = (SELECT min(k) FROM nokey WHERE w = wr);
      DELETE FROM nokey WHERE w = wr AND k = (SELECT min(k) FROM nokey WHERE w = wr)
        AND (SELECT count(*) FROM nokey WHERE w = wr) > 5;
      GET DIAGNOSTICS x = ROW_COUNT;
      n := 2 + x;
    ELSIF kind = 9 THEN		-- rolled back whole: nothing may arrive
      INSERT INTO items VALUES (c, wr, 1, 'never');
      ROLLBACK;
      CONTINUE;
    ELSIF kind = 10 THEN	-- single-row update
      UPDATE items SET qty = qty + 1 WHERE id = (SELECT max(id) FROM items WHERE w = wr);
      GET DIAGNOSTICS n = ROW_COUNT;
    ELSE			-- large: spills to disk on the server
      INSERT INTO items SELECT c + g, wr, g, repeat('L', 100) FROM generate_series(1, 1500) g;
      UPDATE items SET qty = qty + 1 WHERE id BETWEEN c + 1 AND c + 500;
      DELETE FROM items WHERE id BETWEEN c + 1001 AND c + 1500;
      n := 2500;
    END IF;
    PERFORM audit_row(wr, n);
    COMMIT;
    IF pace_ms > 0 THEN PERFORM pg_sleep(pace_ms / 1000.0); END IF;
  END LOOP;
END $$;
