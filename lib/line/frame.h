/* frame.h: the frame every reader writes around its values. */
#ifndef M2M_FRAME_H
#define M2M_FRAME_H

#include <stdbool.h>

#include "line/jsonw.h"

/* The frame of every reading line: {"time":..,"type":..,"device":..
 * then the caller adds "meter" if it has one, then reading_values_begin
 * opens "values":{ and reading_end closes both objects. */
void reading_begin(struct jw *w, const char *type, const char *device);
void reading_values_begin(struct jw *w);
void reading_end(struct jw *w);
/* Writes the line to standard output.  A consumer that went away (EPIPE)
 * ends the reader quietly with 1: nothing is left to say to anyone; any
 * other failure is said, then 1. */
void reading_print(struct jw *w);
/* While on, reading_print holds whole lines (up to 64 KiB) until
 * reading_flush writes them at once: a reader of many meters writes once
 * a wake-up, not once a meter.  The caller flushes before it sleeps. */
void reading_gather(bool on);
void reading_flush(void);

#endif
