build/rel/src/util/form.o: src/util/form.c src/util/form.h
src/util/form.h:
