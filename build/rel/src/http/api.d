build/rel/src/http/api.o: src/http/api.c src/http/api.h src/http/server.h \
 src/util/buf.h src/util/form.h src/util/crypto.h src/util/str.h
src/http/api.h:
src/http/server.h:
src/util/buf.h:
src/util/form.h:
src/util/crypto.h:
src/util/str.h:
