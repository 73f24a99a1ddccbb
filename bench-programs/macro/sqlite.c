// SQLite (the amalgamation from libsqlite3-sys): an in-memory database that grows by one
// batch of rows per outer iteration, each batch followed by aggregate, indexed, join, update
// and delete queries. The checksum folds every row the queries return.
#include "../micro/bench.h"
#include <sqlite3.h>

static uint64_t sum;
static sqlite3 *db;

static int fold_row(void *unused, int n, char **values, char **names) {
    (void)unused, (void)names;
    for (int i = 0; i < n; i++)
        for (const char *c = values[i] ? values[i] : "NULL"; *c; c++) sum = sum * 131 + (unsigned char)*c;
    return 0;
}

static void exec(const char *sql) {
    char *err = 0;
    if (sqlite3_exec(db, sql, fold_row, 0, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s in: %s\n", err, sql);
        exit(1);
    }
}

static void check(int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    check(sqlite3_open(":memory:", &db), "open");
    exec("CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, price REAL);"
         "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);"
         "CREATE INDEX item_grp ON item(grp, price);");
    for (int g = 0; g < 50; g++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO grp VALUES(%d, 'group-%d');", g, g * 7919 % 1000);
        exec(sql);
    }
    sqlite3_stmt *insert;
    check(sqlite3_prepare_v2(db, "INSERT INTO item(grp, name, price) VALUES(?, ?, ?)", -1, &insert, 0),
          "prepare");
    for (int round = 0; round < size * 4; round++) {
        pause();
        exec("BEGIN");
        for (int i = 0; i < 1000; i++) {
            char name[32];
            uint32_t r = bench_rand();
            snprintf(name, sizeof name, "item-%u", r % 100000);
            sqlite3_bind_int(insert, 1, r % 50);
            sqlite3_bind_text(insert, 2, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(insert, 3, (bench_rand() % 100000) / 100.0);
            check(sqlite3_step(insert), "insert");
            sqlite3_reset(insert);
        }
        exec("COMMIT");
        exec("SELECT grp, count(*), printf('%.2f', sum(price)), min(name) FROM item GROUP BY grp "
             "ORDER BY grp LIMIT 20");
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT name, price FROM item WHERE grp = %d ORDER BY price DESC LIMIT 5", round % 50);
        exec(sql);
        exec("SELECT g.label, count(*) FROM item i JOIN grp g ON g.id = i.grp WHERE i.price < 100 "
             "GROUP BY g.label ORDER BY 2 DESC, 1 LIMIT 5");
        snprintf(sql, sizeof sql, "UPDATE item SET price = price * 1.01 WHERE grp %% 7 = %d", round % 7);
        exec(sql);
        snprintf(sql, sizeof sql, "DELETE FROM item WHERE id %% 97 = %d", round % 97);
        exec(sql);
        exec("SELECT count(*), printf('%.2f', avg(price)) FROM item");
    }
    sqlite3_finalize(insert);
    sqlite3_close(db);
    bench_checksum(sum);
    return 0;
}
