/* The runner's board layer: four functions a port implements (see board_qemu_mps2.c for QEMU's
 * MPS2 machines and board_generic.c for any Cortex-M board with a DWT cycle counter).
 *
 * The runner (runner.cc) only ever calls these, so moving it to STM32CubeIDE, PlatformIO, Zephyr
 * or Arduino means compiling runner.cc, the generated mn_*.c/.cc/.h files and one board file into
 * the project and calling micronas_run() from main()/setup(). */
#ifndef MICRONAS_BOARD_H_
#define MICRONAS_BOARD_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void mn_board_init(void);               /* UART (or whatever carries the text) and the timer */
void mn_putchar(char c);                /* one byte of the line protocol, blocking */
uint32_t mn_ticks(void);                /* free-running counter; differences are wrap-safe */
uint32_t mn_ticks_per_second(void);     /* its clock, 0 if unknown */
const char* mn_timer_name(void);        /* says what the ticks count, e.g. "DWT CYCCNT" */
void mn_exit(int code);                 /* end of the run (semihosting exit under QEMU) */

int micronas_run(void);                 /* initialises the board layer, runs every window;
                                           returns 0 when all ran */

#ifdef __cplusplus
}
#endif

#endif  /* MICRONAS_BOARD_H_ */
