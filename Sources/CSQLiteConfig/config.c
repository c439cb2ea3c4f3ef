#include "CSQLiteConfig.h"
#include <sqlite3.h>

int tokenledger_sqlite_configure(void) {
    // Multi-thread mode: no mutex around every API call on a connection. GRDB only ever uses a
    // connection from one thread at a time (its only supported mode), so nothing is lost.
    int result = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    if (result != SQLITE_OK) return result;
    // No allocation statistics: they take a global mutex on every malloc.
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
