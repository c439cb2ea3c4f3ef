#ifndef CSQLITE_H
#define CSQLITE_H

/// Puts SQLite in multi-thread mode without memory statistics, before its first connection
/// opens. Returns SQLITE_OK (0), or SQLITE_MISUSE when SQLite was already initialised (then
/// nothing changes). Swift cannot call the variadic sqlite3_config itself.
int tokenledger_sqlite_configure(void);

/// The version of the SQLite compiled into the program ("3.54.1"): what every connection of the
/// ledger runs, whatever SQLite the system has.
const char *tokenledger_sqlite_version(void);

/// Caps glibc's malloc at two arenas (elsewhere nothing happens), for bulk loads whose memory is
/// allocated on one thread and freed on another. Returns whether it took effect.
int tokenledger_few_malloc_arenas(void);

#endif
