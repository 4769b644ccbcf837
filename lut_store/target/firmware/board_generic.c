/* Board layer for a real Cortex-M3/M4/M7/M33/M55 board: ticks are DWT CYCCNT (core clock cycles,
 * what MicroNAS's on-device LUTs were measured with), text goes through a function you supply.
 *
 * To use it in STM32CubeIDE / PlatformIO / Zephyr / Arduino: add runner.cc, board.h, this file and
 * the generated mn_model.h, mn_model_data.c, mn_inputs.c and mn_ops.cc to the project, compile
 * with the TFLM + CMSIS-NN library (or sources) and -DMN_CPU_HZ=<core clock in Hz>, define
 *
 *     extern "C" void micronas_putchar(char c) { HAL_UART_Transmit(&huart2, (uint8_t*)&c, 1, 10); }
 *
 * (or Serial.write(c), printk("%c", c), ...), and call micronas_run() once from main() or setup().
 * Read the lines on the host with lut_store.target.parse_lines (or the serial reader). */
#include "board.h"

#ifndef MN_CPU_HZ
#define MN_CPU_HZ 0
#endif

#define REG(addr) (*(volatile uint32_t*)(addr))
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)

void micronas_putchar(char c);         /* supplied by the application */

void mn_board_init(void) {
  DEMCR |= 1u << 24;                   /* TRCENA: power the DWT */
  DWT_LAR = 0xC5ACCE55u;               /* unlock (needed on Cortex-M7, ignored elsewhere) */
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u;                      /* CYCCNTENA */
}

void mn_putchar(char c) { micronas_putchar(c); }
uint32_t mn_ticks(void) { return DWT_CYCCNT; }
uint32_t mn_ticks_per_second(void) { return MN_CPU_HZ; }
const char* mn_timer_name(void) { return "DWT CYCCNT (core clock cycles)"; }

void mn_exit(int code) {
  (void)code;
  for (;;) {
  }
}
