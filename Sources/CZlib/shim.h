// The system zlib (Debian: zlib1g-dev), for gzip-compressed OTLP requests.
#include <zlib.h>
