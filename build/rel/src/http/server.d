build/rel/src/http/server.o: src/http/server.c src/http/server.h \
 src/util/buf.h src/util/form.h src/util/log.h
src/http/server.h:
src/util/buf.h:
src/util/form.h:
src/util/log.h:
