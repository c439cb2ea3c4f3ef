#ifndef CSQLITECONFIG_H
#define CSQLITECONFIG_H

/// Puts SQLite in multi-thread mode without memory statistics, before its first connection
/// opens. Returns SQLITE_OK (0), or SQLITE_MISUSE when SQLite was already initialised (then
/// nothing changes). Swift cannot call the variadic sqlite3_config itself.
int tokenledger_sqlite_configure(void);

#endif
