-- The demo domain: a UK teacher training service. Set-based SQL, deterministic by :seed;
-- :scale multiplies every row count (scale 1 is about 2,500 rows). All personal data is
-- synthetic: example domains, Ofcom drama phone numbers, made-up UKPRNs and TRNs.
-- Tables and columns are listed in docs/datasets.md; the masking rules in rules/ rely on them.
SET max_parallel_workers_per_gather = 0;  -- row order, hence ids, independent of the planner

-- a deterministic number in [0, 1) for (row, purpose): hash of the row number, seeded
CREATE FUNCTION pg_temp.rnd(n bigint, purpose int) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((hashint8extended(n, :seed::bigint * 1000 + purpose) >> 12) & 4503599627370495)::float8
           / 4503599627370496.0
$$;
CREATE FUNCTION pg_temp.pick(options text[], n bigint, purpose int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT options[1 + floor(pg_temp.rnd(n, purpose) * cardinality(options))::int]
$$;
CREATE TEMP TABLE words (kind text PRIMARY KEY, options text[]);
INSERT INTO words VALUES
('first', '{Amelia,Olivia,Isla,Ava,Mia,Ivy,Lily,Isabella,Rosie,Sophia,Grace,Willow,Freya,Florence,Emily,Ella,Poppy,Evie,Charlotte,Sienna,Oliver,George,Noah,Arthur,Muhammad,Leo,Harry,Oscar,Archie,Henry,Theodore,Freddie,Jack,Charlie,Theo,Alfie,Jacob,Thomas,Finley,Arlo,Priya,Aisha,Kwame,Siobhan,Dylan,Rhys,Niamh,Callum}'),
('last', '{Smith,Jones,Taylor,Brown,Williams,Wilson,Johnson,Davies,Patel,Robinson,Wright,Thompson,Evans,Walker,White,Roberts,Green,Hall,Thomas,Clarke,Jackson,Wood,Harris,Edwards,Turner,Martin,Cooper,Hill,Ward,Hughes,Moore,Clark,King,Harrison,Lewis,Baker,Lee,Allen,Morris,Khan,Scott,Watson,Davis,Parker,James,Bennett,Young,Phillips,Begum,Okafor}'),
('town', '{Leeds,Bristol,Norwich,Exeter,Derby,Durham,York,Preston,Reading,Luton,Bolton,Carlisle,Hull,Ipswich,Lincoln,Oxford,Stockport,Truro,Wigan,Worcester,Sheffield,Coventry,Swindon,Bath}'),
('street', '{High Street,Station Road,Church Lane,Victoria Road,Park Avenue,Mill Lane,School Lane,Queen Street,King Street,The Green,London Road,Manor Way}'),
('subject', '{Mathematics,English,Biology,Chemistry,Physics,History,Geography,Computing,Modern Languages,Music,Art and Design,Primary,Physical Education,Religious Education}'),
('school', '{Academy,High School,Primary School,College,Community School,Grammar School,Church of England School,Free School}');

CREATE TYPE provider_kind AS ENUM ('accredited', 'training');
CREATE DOMAIN ukprn AS text CHECK (VALUE ~ '^1[0-9]{7}$');

-- Accredited providers (universities, SCITTs) and the training providers (schools) they work with.
CREATE TABLE providers (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ukprn             ukprn NOT NULL UNIQUE,
    urn               text UNIQUE CHECK (urn ~ '^[0-9]{6}$'),  -- schools only
    name              text NOT NULL,
    kind              provider_kind NOT NULL,
    address_line1     text,
    address_line2     text,
    town              text,
    postcode          text,
    email             text,
    telephone         text,
    website           text,
    last_active_year  smallint,  -- latest academic year with a partnership (kept by the service)
    created_at        timestamptz NOT NULL
);

-- Staff of the service; other tables refer to them by email.
CREATE TABLE users (
    id               serial PRIMARY KEY,
    email            text NOT NULL UNIQUE,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    role             text NOT NULL CHECK (role IN ('support', 'admin', 'developer')),
    line_manager_id  int REFERENCES users (id),
    created_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- Which training providers work with which accredited provider, academic year by year.
CREATE TABLE partnerships (
    accredited_provider_id  bigint NOT NULL REFERENCES providers (id),
    training_provider_id    bigint NOT NULL REFERENCES providers (id),
    academic_year           smallint NOT NULL CHECK (academic_year BETWEEN 2019 AND 2026),
    created_by_email        text REFERENCES users (email),
    created_at              timestamptz NOT NULL,
    PRIMARY KEY (accredited_provider_id, training_provider_id, academic_year)
);
CREATE INDEX partnerships_training_provider ON partnerships (training_provider_id);

-- A course is run under one partnership in one academic year (composite foreign key).
CREATE TABLE courses (
    id                      serial PRIMARY KEY,
    accredited_provider_id  bigint NOT NULL,
    training_provider_id    bigint NOT NULL,
    academic_year           smallint NOT NULL,
    code                    text NOT NULL,
    title                   text NOT NULL,
    subject                 text NOT NULL,
    fee                     numeric(10, 2),
    UNIQUE (accredited_provider_id, training_provider_id, academic_year, code),
    FOREIGN KEY (accredited_provider_id, training_provider_id, academic_year)
        REFERENCES partnerships (accredited_provider_id, training_provider_id, academic_year)
);

CREATE TABLE trainees (
    id                  bigserial PRIMARY KEY,
    course_id           int NOT NULL REFERENCES courses (id),
    previous_record_id  bigint REFERENCES trainees (id),  -- an earlier record of the same person
    first_name          text NOT NULL,
    last_name           text NOT NULL,
    date_of_birth       date,
    email               text UNIQUE,
    phone               text,
    ni_number           text CHECK (ni_number ~ '^[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]$'),
    trn                 char(7) UNIQUE CHECK (trn ~ '^[0-9]{7}$'),
    address_line1       text,
    town                text,
    postcode            text,
    notes               text,
    full_name           text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    created_by_email    text REFERENCES users (email),
    created_at          timestamptz NOT NULL
);
CREATE INDEX trainees_course ON trainees (course_id);

CREATE TABLE audit_log (
    id           bigserial,
    logged_at    timestamptz NOT NULL,
    actor_email  text REFERENCES users (email),
    table_name   text NOT NULL,
    record_id    bigint,
    action       text NOT NULL,
    changes      jsonb,
    comment      text,
    PRIMARY KEY (id, logged_at)
) PARTITION BY RANGE (logged_at);
CREATE TABLE audit_log_2019 PARTITION OF audit_log FOR VALUES FROM ('2019-01-01') TO ('2020-01-01');
CREATE TABLE audit_log_2020 PARTITION OF audit_log FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE audit_log_2021 PARTITION OF audit_log FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE TABLE audit_log_2022 PARTITION OF audit_log FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
CREATE TABLE audit_log_2023 PARTITION OF audit_log FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE audit_log_2024 PARTITION OF audit_log FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE audit_log_2025 PARTITION OF audit_log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE audit_log_2026 PARTITION OF audit_log FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE audit_log_other PARTITION OF audit_log DEFAULT;

CREATE MATERIALIZED VIEW trainees_per_provider AS
    SELECT c.training_provider_id AS provider_id, count(*) AS trainees
    FROM trainees t JOIN courses c ON c.id = t.course_id
    GROUP BY c.training_provider_id;
CREATE UNIQUE INDEX ON trainees_per_provider (provider_id);

-- data --------------------------------------------------------------------------------------
-- providers: ids 1, 5, 9, ... are accredited (a quarter), the rest are schools
INSERT INTO providers (ukprn, urn, name, kind, address_line1, address_line2, town, postcode,
                       email, telephone, website, created_at)
SELECT (10000000 + g)::text,
       CASE WHEN g % 4 <> 1 THEN (100000 + g)::text END,
       CASE WHEN g % 4 = 1
            THEN CASE WHEN g % 8 = 1 THEN 'University of ' || town ELSE town || ' SCITT' END
            ELSE pg_temp.pick(l.options, g, 2) || ' ' || pg_temp.pick(s.options, g, 3) END,
       CASE WHEN g % 4 = 1 THEN 'accredited' ELSE 'training' END::provider_kind,
       (1 + g % 200) || ' ' || pg_temp.pick(st.options, g, 4),
       CASE WHEN g % 5 = 0 THEN 'Unit ' || (g % 9 + 1) END,
       town,
       upper(left(town, 2)) || (g % 20 + 1) || ' ' || (g % 9 + 1) || chr(65 + g % 26) || chr(65 + g % 23),
       'admissions@provider' || g || '.example.org',
       '0113 496 ' || lpad((g % 1000)::text, 4, '0'),
       'https://provider' || g || '.example.org',
       timestamptz '2018-01-01 09:00+00' + floor(pg_temp.rnd(g, 5) * 2000) * interval '1 day'
FROM generate_series(1, 40 * :scale) g
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, g, 1) AS town FROM words WHERE kind = 'town') t
CROSS JOIN (SELECT options FROM words WHERE kind = 'last') l
CROSS JOIN (SELECT options FROM words WHERE kind = 'school') s
CROSS JOIN (SELECT options FROM words WHERE kind = 'street') st
ORDER BY g;

INSERT INTO users (email, first_name, last_name, role, line_manager_id, created_at)
SELECT lower(fn || '.' || ln) || g || '@education.example.gov.uk', fn, ln,
       (ARRAY['support', 'support', 'admin', 'developer'])[1 + g % 4],
       CASE WHEN g > 3 THEN 1 + floor(pg_temp.rnd(g, 6) * (g - 1))::int END,
       timestamptz '2019-01-01 09:00+00' + g * interval '7 hours'
FROM generate_series(1, 20 * :scale) g
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, g, 7) AS fn FROM words WHERE kind = 'first') f
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, g, 8) AS ln FROM words WHERE kind = 'last') l
ORDER BY g;

-- each school works with one to three nearby accredited providers for a run of years; about
-- 40% of accredited providers stopped before 2024 (the pre-2024 dataset)
WITH accredited AS (
    SELECT id,
           CASE WHEN pg_temp.rnd(id, 10) < 0.6 THEN 2026
                ELSE 2020 + floor(pg_temp.rnd(id, 11) * 4)::int END AS last_year,
           2019 + floor(pg_temp.rnd(id, 12) * 3)::int AS first_year
    FROM providers WHERE kind = 'accredited'
), links AS (
    SELECT t.id AS training_id,
           least(greatest(4 * (floor((t.id - 1) / 4.0)::int
                 + floor(pg_temp.rnd(t.id * 4 + j, 13) * 5)::int - 2) + 1, 1),
                 4 * ((40 * :scale - 1) / 4) + 1) AS accredited_id,
           2019 + floor(pg_temp.rnd(t.id * 4 + j, 14) * 7)::int AS start_year,
           2 + floor(pg_temp.rnd(t.id * 4 + j, 15) * 7)::int AS years
    FROM providers t CROSS JOIN generate_series(0, 2) j
    WHERE t.kind = 'training' AND j <= floor(pg_temp.rnd(t.id, 16) * 3)
)
INSERT INTO partnerships (accredited_provider_id, training_provider_id, academic_year,
                          created_by_email, created_at)
SELECT l.accredited_id, l.training_id, y,
       (SELECT email FROM users WHERE id = 1 + (l.training_id * 7 + y) % (20 * :scale)),
       make_timestamptz(y - 1, 6, 1 + (l.training_id % 28)::int, 10, 0, 0, 'UTC')
FROM links l JOIN accredited a ON a.id = l.accredited_id
CROSS JOIN LATERAL generate_series(greatest(l.start_year, a.first_year),
                                   least(l.start_year + l.years - 1, a.last_year)) y
ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING;

UPDATE providers p SET last_active_year = y.last
FROM (SELECT id, max(academic_year) AS last FROM (
          SELECT accredited_provider_id AS id, academic_year FROM partnerships
          UNION ALL SELECT training_provider_id, academic_year FROM partnerships) x
      GROUP BY id) y
WHERE y.id = p.id;

INSERT INTO courses (accredited_provider_id, training_provider_id, academic_year, code, title,
                     subject, fee)
SELECT p.accredited_provider_id, p.training_provider_id, p.academic_year,
       upper(left(subject, 2)) || k, subject || ' with QTS (' || p.academic_year || ')', subject,
       CASE WHEN pg_temp.rnd(n, 21) < 0.2 THEN NULL ELSE 9250 END
FROM (SELECT *, row_number() OVER (ORDER BY accredited_provider_id, training_provider_id,
                                            academic_year) AS n
      FROM partnerships) p
CROSS JOIN generate_series(1, 2) k
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, p.n * 2 + k, 20) AS subject
                    FROM words WHERE kind = 'subject') s
WHERE k = 1 OR pg_temp.rnd(p.n, 22) < 0.5
ORDER BY p.n, k;

INSERT INTO trainees (course_id, first_name, last_name, date_of_birth, email, phone, ni_number,
                      trn, address_line1, town, postcode, notes, created_by_email, created_at)
SELECT course_id, fn, ln,
       date '1970-01-01' + floor(pg_temp.rnd(rn, 31) * 12000)::int,
       lower(fn || '.' || ln) || rn || '@mail.example.com',
       '07700 900' || lpad((rn % 1000)::text, 3, '0'),
       substr('ABCEGHJKLMNPRSTWXYZ', 1 + (rn % 19)::int, 1)
           || substr('ABCEGHJKLMNPRSTWXYZ', 1 + (rn / 19 % 19)::int, 1)
           || lpad((rn % 1000000)::text, 6, '0') || chr(65 + (rn % 4)::int),
       lpad((1000000 + rn)::text, 7, '0'),
       (1 + rn % 150) || ' ' || street, town,
       upper(left(town, 2)) || (rn % 20 + 1) || ' ' || (rn % 9 + 1) || chr(65 + (rn % 26)::int)
           || chr(65 + (rn % 23)::int),
       CASE WHEN pg_temp.rnd(rn, 32) < 0.4
            THEN 'Spoke to ' || fn || ' ' || ln || ' on 07700 900' || lpad((rn % 1000)::text, 3, '0')
                 || ' about deferral; confirm by email to ' || lower(fn || '.' || ln) || rn
                 || '@mail.example.com. NI ' || 'QQ' || lpad((rn % 1000000)::text, 6, '0') || 'C'
       END,
       (SELECT email FROM users WHERE id = 1 + (rn * 3) % (20 * :scale)),
       make_timestamptz(academic_year, 9, 1, 8, 0, 0, 'UTC') + (rn % 90) * interval '1 day'
FROM (SELECT c.id AS course_id, c.academic_year,
             row_number() OVER (ORDER BY c.id, g) AS rn
      FROM courses c CROSS JOIN generate_series(1, 8) g
      WHERE g <= 1 + floor(pg_temp.rnd(c.id, 30) * 8)) x
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, rn, 33) AS fn FROM words WHERE kind = 'first') f
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, rn, 34) AS ln FROM words WHERE kind = 'last') l
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, rn, 35) AS town FROM words WHERE kind = 'town') t
CROSS JOIN LATERAL (SELECT pg_temp.pick(options, rn, 36) AS street FROM words
                    WHERE kind = 'street') s
ORDER BY rn;

-- about 5% of records continue an earlier record on the same course (a self-reference)
UPDATE trainees t SET previous_record_id = f.first_id
FROM (SELECT course_id, min(id) AS first_id FROM trainees GROUP BY course_id) f
WHERE f.course_id = t.course_id AND t.id > f.first_id AND pg_temp.rnd(t.id, 37) < 0.05;

INSERT INTO audit_log (logged_at, actor_email, table_name, record_id, action, changes, comment)
SELECT timestamptz '2019-08-01 00:00+00' + floor(pg_temp.rnd(g, 40) * 7 * 365 * 24) * interval '1 hour',
       u.email, 'trainees', tr.id, 'update',
       jsonb_build_object('email', jsonb_build_array(tr.email, 'new.' || tr.email),
                          'phone', jsonb_build_array(tr.phone, NULL)),
       'Updated contact details for ' || tr.first_name || ' ' || tr.last_name
           || ' (' || tr.email || ') at the request of ' || u.email
FROM generate_series(1, 800 * :scale) g
JOIN users u ON u.id = 1 + floor(pg_temp.rnd(g, 41) * 20 * :scale)::int
JOIN trainees tr ON tr.id = 1 + floor(pg_temp.rnd(g, 42) * (SELECT count(*) FROM trainees))::bigint
ORDER BY g;

REFRESH MATERIALIZED VIEW trainees_per_provider;
ANALYZE;
