// SQLite's amalgamation compiled as part of this file (it is excluded from the target's own
// sources), so the functions below see its declarations without a second copy of its header.
#include "sqlite3.c"

#include "CSQLite.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int tokenledger_sqlite_configure(void) {
    // Multi-thread mode: no mutex around every API call on a connection. GRDB only ever uses a
    // connection from one thread at a time (its only supported mode), so nothing is lost.
    int result = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    if (result != SQLITE_OK) return result;
    // No allocation statistics: they take a global mutex on every malloc.
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

const char *tokenledger_sqlite_version(void) {
    return SQLITE_VERSION;
}

int tokenledger_few_malloc_arenas(void) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, 2);
#else
    return 0;
#endif
}
