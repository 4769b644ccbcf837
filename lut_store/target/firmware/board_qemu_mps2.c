/* Board layer for QEMU's MPS2 machines: mps2-an386 (Cortex-M4F) and mps2-an505 (Cortex-M33).
 *
 * Text goes to the CMSDK APB UART0 (MN_UART_BASE); ticks come from SysTick on the processor clock,
 * extended past its 24 bits by counting wraps in its interrupt. The DWT cycle counter cannot be
 * used: QEMU does not model it (CYCCNT reads 0). Under `-icount shift=0` QEMU's virtual time
 * advances 1 ns per guest instruction, so these ticks are a deterministic count of instructions
 * scaled by the machine's SYSCLK, NOT cycles of a real core. */
#include "board.h"

#ifndef MN_UART_BASE
#error "define MN_UART_BASE (0x40004000 on mps2-an386, 0x50200000 on mps2-an505)"
#endif
#ifndef MN_TIMER_HZ
#define MN_TIMER_HZ 0
#endif
#ifndef MN_TIMER_NAME
#define MN_TIMER_NAME "SysTick (QEMU virtual clock)"
#endif

#define REG(addr) (*(volatile uint32_t*)(addr))
#define UART_DATA REG(MN_UART_BASE + 0x00)
#define UART_STATE REG(MN_UART_BASE + 0x04)
#define UART_CTRL REG(MN_UART_BASE + 0x08)
#define UART_BAUDDIV REG(MN_UART_BASE + 0x10)
#define SYST_CSR REG(0xE000E010)
#define SYST_RVR REG(0xE000E014)
#define SYST_CVR REG(0xE000E018)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void mn_board_init(void) {
  UART_BAUDDIV = 16;
  UART_CTRL = 1;                       /* TX enable: without it QEMU drops the characters */
  SYST_RVR = 0x00FFFFFF;
  SYST_CVR = 0;
  SYST_CSR = 0x7;                      /* enable, interrupt on wrap, processor clock */
  while (SYST_CVR == 0) {              /* VAL reads 0 until the first reload */
  }
}

void mn_putchar(char c) {
  while (UART_STATE & 1u) {            /* TX buffer full */
  }
  UART_DATA = (uint8_t)c;
}

uint32_t mn_ticks(void) {
  uint32_t hi, lo;
  do {
    hi = systick_wraps;
    lo = SYST_CVR;
  } while (hi != systick_wraps);
  return hi * 0x01000000u + (0x00FFFFFFu - lo);
}

uint32_t mn_ticks_per_second(void) { return MN_TIMER_HZ; }
const char* mn_timer_name(void) { return MN_TIMER_NAME; }

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with `code` (needs -semihosting-config enable=on). */
void mn_exit(int code) {
  uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
  register uint32_t r0 __asm__("r0") = 0x20;
  register uint32_t* r1 __asm__("r1") = block;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  for (;;) {
  }
}
