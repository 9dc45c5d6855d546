-- Fault campaign, writer 2: SQL savepoints (ROLLBACK TO and RELEASE) and a
-- transaction rolled back whole.  Ids from the shared block sequence.
BEGIN;
SELECT nextval('idblk') * 10000 AS c \gset
INSERT INTO items VALUES (:c + 1, 2, 1, 'sp kept');
SAVEPOINT a;
INSERT INTO items VALUES (:c + 2, 2, 1, 'sp rolled back');
UPDATE items SET note = 'sp rolled back too' WHERE id = :c + 1;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
INSERT INTO items VALUES (:c + 3, 2, 3, 'sp released');
RELEASE SAVEPOINT b;
SAVEPOINT c;
UPDATE docs SET rev = rev + 1 WHERE id = 201;
ROLLBACK TO SAVEPOINT c;
UPDATE items SET qty = qty + 10 WHERE id = :c + 3;
SELECT audit_row(2, 3);
COMMIT;
BEGIN;
INSERT INTO items VALUES (:c + 4, 2, 4, 'never');
SELECT audit_row(2, 1);
ROLLBACK;
SELECT pg_sleep(0.02);
