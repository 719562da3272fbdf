/* Live behaviour of superres: the latency it adds, and which frames take the cheap path
 * (bicubic) so that they are on time instead of late or dropped. */
#ifndef GST_SUPERRES_LIVE_H
#define GST_SUPERRES_LIVE_H

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  double full_mean, full_peak;  /* seconds a frame takes through the network: mean and peak */
  GstClockTime latency;         /* what superres adds to the latency query */
  gboolean live;                /* upstream is live (from the last latency query) */
  GstClockTime qos_earliest;    /* from QoS events: the running time the sink has reached */
  double debt;                  /* target-fps without exits: seconds behind the budget */
} GstSuperresLive;

void gst_superres_live_reset (GstSuperresLive *live);
/* Whether the frame at running time `rt` should take the cheap path: the sink already passed
 * it (QoS), or, live, the network would finish it after its render time (now_rt: the
 * clock's running time, GST_CLOCK_TIME_NONE without a clock), or target-fps (budget seconds
 * > 0) is behind on a net without exits. */
gboolean gst_superres_live_should_degrade (const GstSuperresLive *live, GstClockTime rt,
    GstClockTime now_rt, double budget, gboolean has_exits);
/* A frame done in `seconds`, through the network or (degraded) not. TRUE when the latency
 * grew: the caller posts a latency message. */
gboolean gst_superres_live_account (GstSuperresLive *live, double seconds, gboolean degraded,
    double budget, gboolean has_exits);
void gst_superres_live_qos (GstSuperresLive *live, GstClockTime timestamp,
    GstClockTimeDiff diff);

G_END_DECLS

#endif
